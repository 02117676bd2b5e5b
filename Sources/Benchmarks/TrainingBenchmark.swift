import Communication
import DataPipeline
import Foundation
import Training

/// `trainer-bench train`: training throughput of a config, with the time of each step phase.
///
/// Runs under mpirun or as a world of one. After `--warmup` steps it times `--steps` steps and
/// rank 0 prints samples per second over all ranks and each phase's share of the step.
enum TrainingBenchmark {
    static func run(arguments: [String]) throws {
        var configPath = "configs/pepnet-kuairand.json"
        var dataDirectory: String?
        var steps = 100
        var warmup = 10
        var index = 0
        while index < arguments.count {
            let name = arguments[index]
            let value = index + 1 < arguments.count ? arguments[index + 1] : nil
            index += 2
            switch (name, value) {
            case ("--config", let value?): configPath = value
            case ("--data-dir", let value?): dataDirectory = value
            case ("--steps", let value?): steps = try positive(value, option: name)
            case ("--warmup", let value?): warmup = try positive(value, option: name)
            default:
                throw BenchmarkError(message: "unknown or incomplete option \(name); use --config FILE --data-dir DIR --steps N --warmup N")
            }
        }

        let communicator = try MPICommunicator()
        defer { try? communicator.finalize() }
        let config = try TrainerConfig.load(path: configPath)
        let path = try communicator.runOnRoot { () -> String in
            try DataPreparation.prepare(config: config.data, dataDirectory: dataDirectory, cacheDirectory: "runs/cache").path
        }
        let dataset = try PreparedDataset.open(path: path)
        let trainer = try Trainer(config: config, dataset: dataset, communicator: communicator)

        var plan = trainer.plan(epoch: 0)
        var epoch = 0
        var step = 0
        func nextStep() throws -> Int {
            if step == plan.stepCount {
                epoch += 1
                plan = trainer.plan(epoch: epoch)
                step = 0
            }
            let rows = try trainer.trainStep(plan: plan, step: step).rows
            step += 1
            return rows
        }
        for _ in 0..<warmup { _ = try nextStep() }
        let phasesBefore = trainer.phaseSeconds
        try communicator.barrier()
        let start = DispatchTime.now().uptimeNanoseconds
        var rows = 0
        for _ in 0..<steps { rows += try nextStep() }
        try communicator.barrier()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9

        guard communicator.rank == 0 else { return }
        print("model \(config.model.name), config \(configPath), \(communicator.worldSize) rank(s), batch \(config.train.batchSize), OpenBLAS core \(BLASInfo.coreName)")
        print(String(format: "%d steps, %d samples in %.3f s: %.0f samples/s", steps, rows, seconds, Double(rows) / seconds))
        print("rank 0 time per step by phase:")
        for phase in TrainingPhase.allCases {
            let phaseSeconds = (trainer.phaseSeconds[phase] ?? 0) - (phasesBefore[phase] ?? 0)
            let label = phase.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0)
            print("  " + label + String(format: "%8.3f ms  %5.1f%%", 1000 * phaseSeconds / Double(steps), 100 * phaseSeconds / seconds))
        }
    }

    static func positive(_ text: String, option: String) throws -> Int {
        guard let value = Int(text), value > 0 else {
            throw BenchmarkError(message: "\(option) needs a positive whole number, got \"\(text)\"")
        }
        return value
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
