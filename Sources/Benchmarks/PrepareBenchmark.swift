import DataPipeline
import Foundation
import Training

/// `trainer-bench prepare`: the time `DataPreparation.prepare` takes to read, parse, join, encode
/// and write a config's data when no prepared file exists yet.
///
/// Each repetition prepares into a fresh cache folder, so no run reuses an earlier file. The
/// folders are temporary and removed after each repetition, or with `--cache-dir DIR` they are
/// `DIR/repetition-<n>` and left for the caller to remove. That keeps the deletion of a 40 MB
/// file, which a real run never does, out of a timing of the whole process.
/// It prints one line per repetition with the time of each phase, then the first
/// repetition alone (cold: the process has not yet touched the files, the code or the heap),
/// the median, and a machine-readable line
/// `RESULT prepare_seconds=<median> rows_per_second=<log rows / median>
/// first_seconds=<first repetition> first_without_write_seconds=<first, all phases but write>`.
enum PrepareBenchmark {
    struct Options {
        var configPath = "configs/pepnet-kuairand.json"
        var dataDirectory: String?
        var repetitions = 5
        /// Folder for the repetitions' cache folders, which are then not removed.
        var cacheDirectory: String?
    }

    static func parse(_ arguments: [String]) throws -> Options {
        var options = Options()
        var index = 0
        while index < arguments.count {
            let name = arguments[index]
            guard index + 1 < arguments.count else {
                throw BenchmarkError(message: "option \(name) needs a value; options: --config, --data-dir, --repetitions, --cache-dir")
            }
            let value = arguments[index + 1]
            index += 2
            switch name {
            case "--config": options.configPath = value
            case "--data-dir": options.dataDirectory = value
            case "--repetitions": options.repetitions = try TrainingBenchmark.positive(value, option: name)
            case "--cache-dir": options.cacheDirectory = value
            default:
                throw BenchmarkError(message: "unknown option \(name); options: --config, --data-dir, --repetitions, --cache-dir")
            }
        }
        return options
    }

    static func run(arguments: [String]) throws {
        let options = try parse(arguments)
        let config = try TrainerConfig.load(path: options.configPath)
        print("prepare \(options.configPath), data \(options.dataDirectory ?? config.data.directory), "
              + "\(options.repetitions) repetitions, each into a new cache folder")

        var totals: [Double] = []
        var first = PreparationPhaseSeconds()
        var firstSeconds = 0.0
        var logRows = 0
        for repetition in 1...options.repetitions {
            let cache: String
            if let parent = options.cacheDirectory {
                cache = URL(fileURLWithPath: parent).appendingPathComponent("repetition-\(repetition)").path
                if FileManager.default.fileExists(atPath: cache) {
                    throw BenchmarkError(message: "\(cache) already exists; pass an empty or new --cache-dir")
                }
            } else {
                cache = FileManager.default.temporaryDirectory
                    .appendingPathComponent("trainer-bench-prepare-\(getpid())-\(repetition)").path
            }
            defer {
                if options.cacheDirectory == nil { try? FileManager.default.removeItem(atPath: cache) }
            }

            let start = DispatchTime.now().uptimeNanoseconds
            let result = try DataPreparation.prepare(config: config.data, dataDirectory: options.dataDirectory,
                                                     cacheDirectory: cache)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            precondition(!result.reusedCache, "a fresh cache folder cannot hold a prepared file")
            totals.append(seconds)
            logRows = result.report.logRows
            if repetition == 1 {
                first = result.phaseSeconds
                firstSeconds = seconds
            }

            let split = result.phaseSeconds.all.map { String(format: "%@ %.3f", $0.name, $0.seconds) }
                .joined(separator: ", ")
            print(String(format: "repetition %d: %.3f s (%@)", repetition, seconds, split))
        }

        let sorted = totals.sorted()
        let median = (sorted[(sorted.count - 1) / 2] + sorted[sorted.count / 2]) / 2
        print(String(format: "first repetition (cold) %.3f s: read+fingerprint+parse+join+encode %.3f s, write %.3f s",
                     firstSeconds, first.withoutWrite, first.write))
        print(String(format: "median %.3f s, %.0f log rows/s (%d log rows)", median, Double(logRows) / median, logRows))
        print(String(format: "RESULT prepare_seconds=%.4f rows_per_second=%.0f first_seconds=%.4f first_without_write_seconds=%.4f",
                     median, Double(logRows) / median, firstSeconds, first.withoutWrite))
    }
}
