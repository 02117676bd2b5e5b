import Communication
import DataPipeline
import Foundation
import Training

/// `trainer train`: trains a model in this process, under mpirun, or on in-process ranks.
enum TrainCommand {
    static let summary = """
        Train a model and evaluate it on the test split. Under mpirun every process is one rank; \
        without mpirun the process is a world of one, or --debug --ranks N runs N ranks as threads. \
        Without --config it trains PEPNet on generated data.
        """

    static let specs: [OptionSpec] = [
        .value("config", "FILE", "Training config (JSON): data, model and train sections.", default: "built-in PEPNet on generated data"),
        .value("data-dir", "DIR", "Folder of the input CSV files; replaces data.directory of the config."),
        .value("run-dir", "DIR", "Run directory for config.json, train.log and metrics.json.", default: "runs/<time>-<model>"),
        .flag("overwrite", "Write into an existing, non-empty run directory."),
        .value("cache-dir", "DIR", "Folder of prepared binary data, reused while inputs and config are unchanged.", default: "runs/cache"),
        .value("epochs", "N", "Passes over the training split; replaces train.epochs.", default: "the config's value, else 1"),
        .value("batch-size", "N", "Rows per step over all ranks; replaces train.batchSize.", default: "the config's value, else 1024"),
        .value("learning-rate", "X", "Learning rate of the dense parameters; replaces train.learningRate.", default: "the config's value, else 0.001"),
        .value("sparse-learning-rate", "X", "Learning rate of the embedding rows; replaces train.sparseLearningRate.", default: "the config's value, else the dense rate"),
        .value("seed", "N", "Seed of initialization, shuffling and dropout; replaces train.seed.", default: "the config's value, else 1"),
        .value("max-steps", "N", "Stop after N steps in total; replaces train.maxSteps.", default: "the config's value, else no limit"),
        .value("threads", "N", "Threads per rank for OpenBLAS and the element-wise, gather and scatter kernels; replaces train.threads. Raise it only when there are fewer ranks than cores.", default: "the config's value, else 1"),
        .flag("debug", "Run the ranks as threads of this process (no mpirun), with the same code paths."),
        .value("ranks", "N", "With --debug: number of in-process ranks.", default: "1"),
        .value("check-every", "N", "Compare dense parameter checksums across ranks every N steps and stop on divergence.", default: "the config's value, else never"),
        .value("progress-seconds", "S", "Seconds between progress lines when the output is not a terminal; a terminal gets a bar.", default: "10"),
        .value("checkpoint-every", "N", "Write a checkpoint every N steps and at the end into <run dir>/checkpoints/; replaces train.checkpointEverySteps.", default: "the config's value, else no checkpoints"),
        .value("keep-checkpoints", "N", "Checkpoints kept; older ones are deleted; replaces train.keepCheckpoints.", default: "3"),
        .value("resume", "DIR", "Continue from a checkpoint folder, or from the newest checkpoint of a run directory; without --config the checkpoint's config is used."),
        .value("dump-parameters", "FILE", "After training, rank 0 writes every parameter and each step's loss to FILE (binary), to compare runs."),
        .value("log-level", "LEVEL", "debug, info, warning or error; also set by \(LogLevel.environmentVariable).", default: "info"),
    ]

    /// The most in-process ranks `--debug` starts: each is a thread with its own model replica.
    static let maxDebugRanks = 64

    static func run(_ arguments: [String]) throws -> Int32 {
        let options = try ParsedOptions(arguments, specs: specs)
        let level: LogLevel
        do {
            level = try LogLevel.resolve(commandLineValue: options.string("log-level"))
        } catch let error as LogLevelError {
            throw UsageError(message: error.description)
        }
        let ranks = try options.integer("ranks", minimum: 1)
        if let ranks, ranks > maxDebugRanks {
            throw UsageError(message: "option --ranks must be at most \(maxDebugRanks), got \(ranks); for more ranks use mpirun")
        }
        if ranks != nil && !options.flag("debug") {
            throw UsageError(message: "option --ranks needs --debug; under mpirun the rank count comes from mpirun -n")
        }
        let checkEvery = try options.integer("check-every", minimum: 1)

        let configPath = options.string("config")
        var config: TrainerConfig
        var dataDirectory = options.string("data-dir")
        let resume = options.string("resume")
        if let configPath {
            config = try TrainerConfig.load(path: configPath)
        } else if let resume {
            config = try CheckpointLoader.readManifest(directory: try CheckpointLoader.resolve(resume)).config
        } else {
            config = QuickStart.config()
            if dataDirectory == nil {
                dataDirectory = try QuickStart.ensureGeneratedData(directory: QuickStart.defaultDataDirectory)
                print("training on the generated data in \(QuickStart.defaultDataDirectory) (trainer generate writes other sizes)")
                fflush(stdout)  // The logger writes unbuffered; keep this line before its lines.
            }
        }
        if let dataDirectory {
            // Written into config.json, so the run directory records the data actually read.
            config.data.directory = dataDirectory
        }
        if let epochs = try options.integer("epochs", minimum: 1) { config.train.epochs = epochs }
        if let batchSize = try options.integer("batch-size", minimum: 1) { config.train.batchSize = batchSize }
        if let rate = try options.positiveNumber("learning-rate") { config.train.learningRate = rate }
        if let rate = try options.positiveNumber("sparse-learning-rate") { config.train.sparseLearningRate = rate }
        if let seed = try options.integer("seed", minimum: 0) { config.train.seed = UInt64(seed) }
        if let steps = try options.integer("max-steps", minimum: 1) { config.train.maxSteps = steps }
        if let threads = try options.integer("threads", minimum: 1) { config.train.threads = threads }
        if let every = try options.integer("checkpoint-every", minimum: 1) { config.train.checkpointEverySteps = every }
        if let keep = try options.integer("keep-checkpoints", minimum: 1) { config.train.keepCheckpoints = keep }

        let source = configPath ?? resume.map { "the config of checkpoint \($0)" } ?? "built-in quick start"
        var runOptions = RunOptions(config: config, configSource: source,
                                    cacheDirectory: options.string("cache-dir") ?? "runs/cache")
        runOptions.runDirectory = options.string("run-dir")
            ?? "runs/" + RunDirectory.timestampName(modelName: config.model.name, date: Date())
        runOptions.overwriteRunDirectory = options.flag("overwrite")
        runOptions.checkEverySteps = checkEvery
        // Decided before MPI starts: a single process started without mpirun gets PMIX_RANK from
        // Open MPI's singleton start, which would otherwise read as "launched by mpirun".
        runOptions.progressStyle = ProgressStyle.forStandardOutput()
        if let seconds = try options.positiveNumber("progress-seconds") {
            runOptions.progressIntervalSeconds = Double(seconds)
        }
        runOptions.parameterDumpPath = options.string("dump-parameters")
        runOptions.resumeFrom = resume

        runOptions.buildIdentity = BuildIdentity.ofRunningExecutable()
        return RankLauncher.run(debugRanks: options.flag("debug") ? ranks ?? 1 : nil, level: level) { communicator, logger in
            // From here SIGTERM and SIGINT stop every rank after the same step, with a checkpoint.
            StopSignal.install()
            let summary = try TrainingSession.run(runOptions, communicator: communicator, logger: logger)
            return summary.stopSignal.map(StopSignal.exitStatus) ?? 0
        }
    }
}
