import Communication
import TensorCore
import DataPipeline
import Foundation
import Models
import Training

/// `trainer-bench train` and `trainer-bench embeddings`: training throughput, the time of each
/// part of a step, and peak memory per rank.
///
/// Both run under mpirun or as a world of one. After `--warmup` steps they time `--steps` steps;
/// rank 0 prints samples per second over all ranks, rank 0's time per step by phase, and every
/// rank's peak resident memory beside the bound that row sharding promises.
enum TrainingBenchmark {
    struct Options {
        var configPath = "configs/pepnet-kuairand.json"
        var dataDirectory: String?
        var steps = 100
        var warmup = 10
        /// Overrides `train.threads` when given.
        var threads: Int?
        /// How many of the step's largest matrix product shapes to list (`train` only).
        var products = 0
        // `embeddings` only:
        var contextIds = 100_000_000
        var rows = 1_000_000
        var dimension = 16
        var model = "mlp"
    }

    static func parse(_ arguments: [String], allowed: Set<String>) throws -> Options {
        var options = Options()
        var index = 0
        while index < arguments.count {
            let name = arguments[index]
            guard allowed.contains(name), index + 1 < arguments.count else {
                throw BenchmarkError(message: "unknown or incomplete option \(name); options: \(allowed.sorted().joined(separator: ", "))")
            }
            let value = arguments[index + 1]
            index += 2
            switch name {
            case "--config": options.configPath = value
            case "--data-dir": options.dataDirectory = value
            case "--steps": options.steps = try positive(value, option: name)
            case "--warmup": options.warmup = try positive(value, option: name)
            case "--threads": options.threads = try positive(value, option: name)
            case "--products": options.products = try positive(value, option: name)
            case "--context-ids": options.contextIds = try positive(value, option: name)
            case "--rows": options.rows = try positive(value, option: name)
            case "--dimension": options.dimension = try positive(value, option: name)
            default: options.model = value
            }
        }
        return options
    }

    /// `train`: a config file's model on its data.
    static func run(arguments: [String]) throws {
        let options = try parse(arguments, allowed: ["--config", "--data-dir", "--steps", "--warmup", "--threads",
                                                        "--products"])
        var config = try TrainerConfig.load(path: options.configPath)
        if let threads = options.threads {
            config.train.threads = threads
        }
        if let directory = options.dataDirectory {
            config.data.directory = directory
        }
        try measure(config: config, label: "config \(options.configPath)", options: options)
    }

    /// `embeddings`: generated data with one feature of `--context-ids` rows (100 million by
    /// default), `--dimension`-wide embeddings and row-wise Adagrad; the run that shows what row
    /// sharding holds.
    static func runLargeTable(arguments: [String]) throws {
        var options = try parse(arguments, allowed: ["--data-dir", "--steps", "--warmup", "--context-ids", "--rows",
                                                     "--dimension", "--model"])
        if !arguments.contains("--steps") { options.steps = 20 }
        if !arguments.contains("--warmup") { options.warmup = 3 }
        let directory = options.dataDirectory ?? "runs/large-table-data"
        var generator = SyntheticDataOptions(rows: options.rows, users: 100_000, items: 50_000)
        generator.contextIdSpace = options.contextIds
        var data = SyntheticDataGenerator.defaultConfig(directory: directory, options: generator)
        data.embeddingDimension = options.dimension
        var train = TrainSettings()
        train.sparseOptimizer = "rowWiseAdagrad"
        train.sparseLearningRate = 0.05
        var model = ModelConfig(name: options.model)
        if options.model == "pepnet" {
            model.options["personaFeatures"] = .array([.string("user_id"), .string("item_id"), .string("author_id")])
        }
        let config = TrainerConfig(data: data, model: model, train: train)

        let communicator = try MPICommunicator()
        defer { try? communicator.finalize() }
        _ = try communicator.runOnRoot { () -> Bool in
            let log = URL(fileURLWithPath: directory).appendingPathComponent(SyntheticDataGenerator.logFile).path
            let header = FileHandle(forReadingAtPath: log).map { handle in
                defer { try? handle.close() }
                return String(decoding: handle.readData(ofLength: 200), as: UTF8.self)
            }
            if !(header?.contains("context_id") ?? false) {
                print("generating \(options.rows) rows with \(options.contextIds) context ids into \(directory)")
                try SyntheticDataGenerator(options: generator).write(to: directory)
            }
            return true
        }
        try measure(config: config, label: "generated data, context_id table of \(options.contextIds) rows × \(options.dimension)",
                    options: options, communicator: communicator)
    }

    static func measure(config: TrainerConfig, label: String, options: Options,
                        communicator existing: MPICommunicator? = nil) throws {
        let communicator: MPICommunicator
        if let existing {
            communicator = existing
        } else {
            communicator = try MPICommunicator()
        }
        defer { if existing == nil { try? communicator.finalize() } }
        var memory = MemoryMarks()
        memory.mark("runtime and MPI")
        let path = try communicator.runOnRoot { () -> String in
            try DataPreparation.prepare(config: config.data, dataDirectory: nil, cacheDirectory: "runs/cache").path
        }
        let dataset = try PreparedDataset.open(path: path)
        memory.mark("prepared data (read or built)")
        let trainer = try Trainer(config: config, dataset: dataset, communicator: communicator)
        memory.mark("model, tables and optimizer state")

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
        for _ in 0..<options.warmup { _ = try nextStep() }
        memory.mark("first steps (activations, buffers)")
        let phasesBefore = trainer.phaseSeconds
        let communicationBusyBefore = trainer.communicationThreadBusySeconds
        let sharded = trainer.embeddings as? RowShardedEmbeddingTables
        let exchangeBefore = (sharded?.lookupExchangeSeconds ?? 0, sharded?.gradientExchangeSeconds ?? 0)
        try communicator.barrier()
        GEMMLog.start()
        let start = DispatchTime.now().uptimeNanoseconds
        var rows = 0
        for _ in 0..<options.steps { rows += try nextStep() }
        try communicator.barrier()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let gemmCalls = GEMMLog.stop()
        memory.mark("timed steps")
        let peaks = try communicator.allgather(peakResidentBytes())

        // The arithmetic floor: every rank times its products alone, after the timed steps, so
        // that no rank's measurement shares a core with another rank's training.
        let arithmeticFloor = ArithmeticFloor(calls: gemmCalls, steps: options.steps)
        let peakRate = arithmeticFloor.measurePeakRate()
        let ownShapes = arithmeticFloor.measureOwnShapes()
        try communicator.barrier()

        guard communicator.rank == 0 else { return }
        let worldSize = communicator.worldSize
        let stepSeconds = seconds / Double(options.steps)
        print("model \(config.model.name), \(label), \(worldSize) rank(s) × \(config.train.threads) thread(s), batch \(config.train.batchSize), embeddings \(config.train.embeddingLayout), OpenBLAS core \(BLASInfo.coreName)")
        print(String(format: "%d steps, %d samples in %.3f s: %.0f samples/s, %.2f ms per step",
                     options.steps, rows, seconds, Double(rows) / seconds, 1000 * stepSeconds))

        func phase(_ name: TrainingPhase) -> Double { (trainer.phaseSeconds[name] ?? 0) - (phasesBefore[name] ?? 0) }
        let lookupExchange = (sharded?.lookupExchangeSeconds ?? 0) - exchangeBefore.0
        let gradientExchange = (sharded?.gradientExchangeSeconds ?? 0) - exchangeBefore.1
        let rowsOfSteps: [(String, Double)] = [
            ("input", phase(.input)),
            ("embedding exchange (lookup)", lookupExchange),
            ("embedding lookup (local)", phase(.embeddingLookup) - lookupExchange),
            ("forward", phase(.forward)),
            ("backward", phase(.backward)),
            ("dense allreduce (waited for)", phase(.allreduce)),
            ("dense optimizer", phase(.optimizer)),
            ("embedding exchange (gradients)", gradientExchange),
            ("sparse update (local)", phase(.embeddingUpdate) - gradientExchange),
        ]
        print("rank 0 time per step:")
        for (name, total) in rowsOfSteps {
            print("  " + name.padding(toLength: 34, withPad: " ", startingAt: 0)
                  + String(format: "%8.3f ms  %5.1f%%", 1000 * total / Double(options.steps), 100 * total / seconds))
        }
        if trainer.overlapsAllreduce {
            let busy = trainer.communicationThreadBusySeconds - communicationBusyBefore
            print(String(format: "  (allreduce thread busy %.3f ms per step, overlapping backward; the row above is the wait after it)",
                         1000 * busy / Double(options.steps)))
        } else if worldSize > 1 {
            print("  (allreduce after backward: \(trainer.overlapFallbackReason ?? "train.overlapAllreduce is false"))")
        }

        let flopsPerStep = arithmeticFloor.flopsPerStep
        print(String(format: "arithmetic (rank 0): %.3f GFLOP per step in %d products; achieved %.1f GFLOP/s over the whole step",
                     flopsPerStep / 1e9, arithmeticFloor.callsPerStep, flopsPerStep / stepSeconds / 1e9))
        print(String(format: "  floor at the peak sgemm rate (%.1f GFLOP/s on %@, measured now): %.2f ms, step / floor = %.2f",
                     peakRate / 1e9, ArithmeticFloor.peakShape.description, 1000 * flopsPerStep / peakRate,
                     stepSeconds / (flopsPerStep / peakRate)))
        print(String(format: "  floor at the rates of the step's own shapes, each product run alone: %.2f ms, step / floor = %.2f",
                     1000 * ownShapes.seconds, stepSeconds / ownShapes.seconds)
              + (ownShapes.timedShapes < ownShapes.shapes.count
                 ? " (\(ownShapes.timedShapes) largest of \(ownShapes.shapes.count) shapes timed, the rest at their average rate)" : ""))
        if options.products > 0 {
            printProducts(ownShapes.shapes.prefix(options.products), flopsPerStep: flopsPerStep)
        }

        let schema = dataset.schema
        let stateWidth = config.train.sparseOptimizer == "rowWiseAdagrad" ? 1 : 2
        let tableBytes = zip(schema.tableRows, schema.embeddingDimensions).reduce(0) { total, table in
            total + table.0 * (table.1 + (stateWidth == 1 ? 1 : 2 * table.1)) * MemoryLayout<Float>.size
        }
        let denseBytes = trainer.model.parameters.reduce(0) { $0 + $1.value.count } * MemoryLayout<Float>.size
        let bound = 1.3 * Double(tableBytes) / Double(worldSize) + Double(denseBytes)
        print(String(format: "embedding rows and optimizer state: %.2f GiB in all, %.2f GiB per rank; dense parameters %.1f MiB",
                     gib(tableBytes), gib(tableBytes) / Double(worldSize), Double(denseBytes) / 1_048_576))
        print(String(format: "a replicated layout would hold %.2f GiB on every rank (%.2f GiB on %d ranks)",
                     gib(tableBytes), gib(tableBytes) * Double(worldSize), worldSize))
        print("rank 0 peak resident memory by phase (growth of the peak during each):")
        for line in memory.lines() { print("  " + line) }
        print(String(format: "peak resident memory per rank, against 1.3 × tables / W + dense = %.2f GiB:", bound / 1_073_741_824))
        for (rank, peak) in peaks.enumerated() {
            print(String(format: "  rank %d  %.1f MiB  (%.2f times the bound)", rank, Double(peak) / 1_048_576, Double(peak) / bound))
        }
    }

    /// Prints one line per product shape: calls and MFLOP per step, its share of the step's FLOPs,
    /// and, when it was timed alone, its time per step and rate.
    static func printProducts(_ shapes: ArraySlice<ArithmeticFloor.ShapeTiming>, flopsPerStep: Double) {
        let width = max(26, (shapes.map { $0.shape.description.count }.max() ?? 0) + 2)
        print("largest matrix products per step (rank 0), each timed alone:")
        print("  " + "shape".padding(toLength: width, withPad: " ", startingAt: 0)
              + "calls   MFLOP   share   ms alone  GFLOP/s")
        for timing in shapes {
            let flops = Double(timing.shape.flops) * timing.callsPerStep
            var line = "  " + timing.shape.description.padding(toLength: width, withPad: " ", startingAt: 0)
                + String(format: "%5.1f %7.1f  %5.1f%%", timing.callsPerStep, flops / 1e6, 100 * flops / flopsPerStep)
            if let seconds = timing.secondsPerCall {
                line += String(format: "  %8.3f  %7.1f", 1000 * seconds * timing.callsPerStep, Double(timing.shape.flops) / seconds / 1e9)
            } else {
                line += "  (not timed)"
            }
            print(line)
        }
    }

    static func gib(_ bytes: Int) -> Double { Double(bytes) / 1_073_741_824 }

    /// Returns the process's peak resident set size in bytes (`ru_maxrss` is in kilobytes on Linux).
    static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
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
