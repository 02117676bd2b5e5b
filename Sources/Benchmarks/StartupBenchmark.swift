import Communication
import DataPipeline
import Foundation
import Training

/// `trainer-bench startup`: seconds from process start to the end of the first training step,
/// on the launch path of `trainer train` (MPI start, data preparation, opening the prepared
/// file, building the model, one step).
///
/// The process start comes from `/proc/self/stat`, in clock ticks (10 ms on common kernels).
/// Run it twice: the first run of a config may build the prepared file, and the output shows
/// whether the cache was reused. The last line is machine-readable:
/// `RESULT first_step_seconds=<s> reused_cache=<true|false>`.
enum StartupBenchmark {
    /// The prepared file and whether it was reused, sent from rank 0 to the other ranks.
    struct PreparedPath: Codable {
        var path: String
        var reusedCache: Bool
    }

    static func run(arguments: [String]) throws {
        var configPath = "configs/pepnet-kuairand.json"
        var cacheDirectory = "runs/cache"
        var index = 0
        while index < arguments.count {
            guard index + 1 < arguments.count else {
                throw BenchmarkError(message: "option \(arguments[index]) needs a value; options: --config, --cache-dir")
            }
            switch arguments[index] {
            case "--config": configPath = arguments[index + 1]
            case "--cache-dir": cacheDirectory = arguments[index + 1]
            default:
                throw BenchmarkError(message: "unknown option \(arguments[index]); options: --config, --cache-dir")
            }
            index += 2
        }

        var marks: [(String, Double)] = [("main", try secondsSinceProcessStart())]
        let communicator = try MPICommunicator()
        defer { try? communicator.finalize() }
        marks.append(("MPI started", try secondsSinceProcessStart()))

        let config = try TrainerConfig.load(path: configPath)
        let result = try communicator.runOnRoot { () -> PreparedPath in
            let prepared = try DataPreparation.prepare(config: config.data, dataDirectory: nil, cacheDirectory: cacheDirectory)
            return PreparedPath(path: prepared.path, reusedCache: prepared.reusedCache)
        }
        marks.append((result.reusedCache ? "prepared data reused" : "prepared data built", try secondsSinceProcessStart()))
        let dataset = try PreparedDataset.open(path: result.path)
        marks.append(("prepared file opened", try secondsSinceProcessStart()))
        let trainer = try Trainer(config: config, dataset: dataset, communicator: communicator)
        marks.append(("model built", try secondsSinceProcessStart()))
        _ = try trainer.trainStep(plan: trainer.plan(epoch: 0), step: 0)
        try communicator.barrier()
        let firstStep = try secondsSinceProcessStart()
        marks.append(("first step done", firstStep))

        guard communicator.rank == 0 else { return }
        print("startup of \(configPath) on \(communicator.worldSize) rank(s), cache \(cacheDirectory), seconds since process start:")
        for (name, seconds) in marks {
            print("  " + name.padding(toLength: 24, withPad: " ", startingAt: 0) + String(format: "%7.3f", seconds))
        }
        print(String(format: "RESULT first_step_seconds=%.3f reused_cache=%@", firstStep, result.reusedCache ? "true" : "false"))
    }

    /// Returns the seconds since this process started, from field 22 of `/proc/self/stat` (start
    /// time in clock ticks after boot) and the boot-time clock.
    static func secondsSinceProcessStart() throws -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let closing = stat.lastIndex(of: ")") else {
            throw BenchmarkError(message: "cannot read /proc/self/stat; the startup benchmark needs Linux procfs")
        }
        // The command name in field 2 may hold spaces, so fields are counted after its ")".
        let fields = stat[stat.index(after: closing)...].split(separator: " ")
        guard fields.count > 19, let startTicks = Double(fields[19]) else {
            throw BenchmarkError(message: "unexpected /proc/self/stat format: \(stat.prefix(200))")
        }
        var now = timespec()
        clock_gettime(CLOCK_BOOTTIME, &now)
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 - startTicks / ticksPerSecond
    }
}
