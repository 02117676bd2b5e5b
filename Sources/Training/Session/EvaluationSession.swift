import Communication
import DataPipeline
import Foundation

/// The inputs of `trainer eval`.
public struct EvaluationOptions: Sendable {
    /// A checkpoint folder, or a run directory meaning its newest checkpoint.
    public var checkpoint: String
    /// Replaces the data section of the checkpoint's config (same features and vocabularies).
    public var dataConfig: DataConfig?
    /// Replaces `data.directory`, after `dataConfig`.
    public var dataDirectory: String?
    public var cacheDirectory: String
    /// Rank 0 writes every test row's scores to this CSV file.
    public var predictionsPath: String?
    /// Folder of `metrics.json`; nil means `defaultOutputDirectory(checkpoint:step:)`.
    public var outputDirectory: String?
    /// The executable of this rank; ranks that run different builds stop before loading.
    public var buildIdentity: BuildIdentity?

    public init(checkpoint: String, cacheDirectory: String) {
        self.checkpoint = checkpoint
        self.cacheDirectory = cacheDirectory
    }
}

/// The content of the `metrics.json` that `trainer eval` writes.
struct CheckpointEvaluationRecord: Encodable {
    let checkpoint: String
    let step: Int
    let testRows: Int
    let evaluation: EvaluationReport
}

/// Scores the test split with the parameters of a checkpoint, on any world size.
public enum EvaluationSession {
    /// `<run directory>/eval-step-<N>` for a checkpoint in a run's `checkpoints/` folder, else
    /// `eval-step-<N>` beside the checkpoint folder. A folder of its own keeps the training
    /// run's `metrics.json` as it was.
    public static func defaultOutputDirectory(checkpoint: URL, step: Int) -> URL {
        var parent = checkpoint.deletingLastPathComponent()
        if parent.lastPathComponent == CheckpointWriter.checkpointsFolderName {
            parent = parent.deletingLastPathComponent()
        }
        return parent.appendingPathComponent("eval-step-\(step)", isDirectory: true)
    }

    /// Loads the checkpoint, scores every test row once, and on rank 0 prints the metrics and
    /// writes `metrics.json` and the predictions. Returns the report on rank 0, nil elsewhere.
    public static func run(_ options: EvaluationOptions, communicator: Communicator, logger: Logger) throws -> EvaluationReport? {
        try TrainingSession.verifySameBuild(options.buildIdentity, communicator: communicator)
        let (directory, manifest) = try communicator.runOnEveryRank { () -> (URL, CheckpointManifest) in
            let directory = try CheckpointLoader.resolve(options.checkpoint)
            return (directory, try CheckpointLoader.readManifest(directory: directory))
        }
        var config = manifest.config
        if let dataConfig = options.dataConfig { config.data = dataConfig }
        if let dataDirectory = options.dataDirectory { config.data.directory = dataDirectory }
        logger.info("evaluating \(directory.path) (\(manifest.modelName), step \(manifest.globalStep), saved on \(manifest.worldSize) rank(s)) on \(communicator.worldSize) rank(s)")

        var runOptions = RunOptions(config: config, configSource: directory.path, cacheDirectory: options.cacheDirectory)
        runOptions.runDirectory = nil
        let dataset = try TrainingSession.openDataset(runOptions, communicator: communicator, logger: logger)
        guard dataset.test.count > 0 else {
            throw CollectiveFailure(message: "the test split is empty; check data.split.testMin", underlying: nil)
        }
        let trainer = try Trainer(config: config, dataset: dataset, communicator: communicator)
        let clock = DispatchClock.now()
        let checkpoint = try CheckpointLoader.load(directory.path, into: trainer, resuming: false)
        if communicator.rank == 0 {
            for warning in checkpoint.warnings { logger.warning(warning) }
        }
        logger.info("loaded the checkpoint in \(String(format: "%.2f", DispatchClock.seconds(since: clock))) s")

        let scores = try trainer.predictTestSplit()
        let output = options.outputDirectory.map { URL(fileURLWithPath: $0, isDirectory: true) }
            ?? defaultOutputDirectory(checkpoint: directory, step: manifest.globalStep)
        let report = try communicator.runOnRoot { () -> EvaluationReport in
            let report = try TrainingSession.makeReport(trainer, dataset: dataset, scores: scores!)
            logger.info("evaluation of step \(manifest.globalStep), \(dataset.test.count) test rows:\n" + report.formattedTables().trimmingCharacters(in: .newlines))
            let run = try RunDirectory.create(runsRoot: output.deletingLastPathComponent(), name: output.lastPathComponent,
                                              modelName: manifest.modelName, overwrite: true)
            try run.writeMetrics(CheckpointEvaluationRecord(checkpoint: directory.path, step: manifest.globalStep,
                                                            testRows: dataset.test.count, evaluation: report))
            logger.info("wrote \(run.metricsURL.path)")
            if let path = options.predictionsPath {
                try writePredictions(scores!, dataset: dataset, taskNames: trainer.taskNames, to: path)
                logger.info("wrote \(path)")
            }
            return report
        }
        return communicator.rank == 0 ? report : nil
    }

    /// Writes one CSV line per test row: `row,scene,user`, the score of each task, then its label.
    /// Scores are written with the shortest text that reads back as the same Float32.
    static func writePredictions(_ scores: [Float], dataset: PreparedDataset, taskNames: [String], to path: String) throws {
        let test = dataset.test
        let taskCount = taskNames.count
        let dataTaskCount = dataset.schema.taskNames.count
        var text = "row,scene,user," + taskNames.map { "score_\($0)" }.joined(separator: ",") + ","
            + taskNames.map { "label_\($0)" }.joined(separator: ",") + "\n"
        for row in 0..<test.count {
            var fields = [String(row), String(test.scenes[row]), String(test.users[row])]
            for task in 0..<taskCount { fields.append("\(scores[row * taskCount + task])") }
            for task in 0..<taskCount { fields.append("\(Int(test.labels[row * dataTaskCount + task]))") }
            text += fields.joined(separator: ",") + "\n"
        }
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CheckpointError.writeFailed(path: path, reason: error.localizedDescription)
        }
    }
}
