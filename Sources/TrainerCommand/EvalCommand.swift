import DataPipeline
import Foundation
import Training

/// `trainer eval`: scores the test split with a checkpoint, in this process, under mpirun or
/// on in-process ranks.
enum EvalCommand {
    static let summary = """
        Evaluate a checkpoint on the test split: every test row is scored once on any number of \
        ranks, and rank 0 prints AUC, GAUC and UAUC per task and scene and writes metrics.json. \
        The data section of the checkpoint's config is used unless --config or --data-dir replace it.
        """

    static let specs: [OptionSpec] = [
        .value("checkpoint", "DIR", "A checkpoint folder (checkpoints/step-<N>), or a run directory meaning its newest checkpoint."),
        .value("data-dir", "DIR", "Folder of the input CSV files; replaces data.directory."),
        .value("config", "FILE", "A config whose data section replaces the checkpoint's (features and vocabularies must match)."),
        .value("cache-dir", "DIR", "Folder of prepared binary data.", default: "runs/cache"),
        .value("predictions", "FILE", "Also write every test row's scores and labels to FILE (CSV: row, scene, user, score_<task>..., label_<task>...)."),
        .value("output", "DIR", "Folder for metrics.json.", default: "<run dir>/eval-step-<N>"),
        .flag("debug", "Run the ranks as threads of this process (no mpirun)."),
        .value("ranks", "N", "With --debug: number of in-process ranks.", default: "1"),
        .value("log-level", "LEVEL", "debug, info, warning or error; also set by \(LogLevel.environmentVariable).", default: "info"),
    ]

    static func run(_ arguments: [String]) throws -> Int32 {
        let options = try ParsedOptions(arguments, specs: specs)
        let level: LogLevel
        do {
            level = try LogLevel.resolve(commandLineValue: options.string("log-level"))
        } catch let error as LogLevelError {
            throw UsageError(message: error.description)
        }
        guard let checkpoint = options.string("checkpoint") else {
            throw UsageError(message: "missing --checkpoint DIR")
        }
        let ranks = try options.integer("ranks", minimum: 1)
        if let ranks, ranks > TrainCommand.maxDebugRanks {
            throw UsageError(message: "option --ranks must be at most \(TrainCommand.maxDebugRanks), got \(ranks); for more ranks use mpirun")
        }
        if ranks != nil && !options.flag("debug") {
            throw UsageError(message: "option --ranks needs --debug; under mpirun the rank count comes from mpirun -n")
        }

        var evaluation = EvaluationOptions(checkpoint: checkpoint, cacheDirectory: options.string("cache-dir") ?? "runs/cache")
        if let configPath = options.string("config") {
            evaluation.dataConfig = try TrainerConfig.load(path: configPath).data
        }
        evaluation.dataDirectory = options.string("data-dir")
        evaluation.predictionsPath = options.string("predictions")
        evaluation.outputDirectory = options.string("output")
        evaluation.buildIdentity = BuildIdentity.ofRunningExecutable()
        let settings = evaluation
        return RankLauncher.run(debugRanks: options.flag("debug") ? ranks ?? 1 : nil, level: level) { communicator, logger in
            _ = try EvaluationSession.run(settings, communicator: communicator, logger: logger)
            return 0
        }
    }
}
