import Communication
import DataPipeline
import Foundation
import Models
import TensorCore

/// The inputs of a training run besides its config.
public struct RunOptions: Sendable {
    public var config: TrainerConfig
    /// The origin of the config (a file path or a description), for logs.
    public var configSource: String
    /// Folder of prepared binary data, reused across runs while inputs and config are unchanged.
    public var cacheDirectory: String
    /// Run directory written by rank 0 (`<root>/<name>`; a name from the time and model when
    /// absent); nil writes none, as tests do.
    public var runDirectory: String?
    /// Allows writing into an existing, non-empty run directory.
    public var overwriteRunDirectory = false
    /// Compare dense parameter checksums across ranks every this many steps; nil never does.
    public var checkEverySteps: Int?
    /// Keep every parameter's final value in the summary, for equivalence tests.
    public var keepFinalParameters = false
    /// Seconds between progress lines when standard output is not a terminal (a terminal gets a
    /// bar redrawn in place).
    public var progressIntervalSeconds = 10.0
    /// Bar or lines; nil chooses by whether standard output is a terminal.
    public var progressStyle: ProgressStyle?
    /// Rank 0 writes the final parameters and every step's loss to this file (`ParameterDump`).
    public var parameterDumpPath: String?
    /// A checkpoint folder, or a run directory meaning its newest checkpoint, to continue from.
    public var resumeFrom: String?
    /// The executable this rank runs, compared across ranks at start; nil skips the check.
    public var buildIdentity: BuildIdentity?

    public init(config: TrainerConfig, configSource: String, cacheDirectory: String) {
        self.config = config
        self.configSource = configSource
        self.cacheDirectory = cacheDirectory
    }
}

/// The result of a run, returned to the caller on every rank.
public struct RunSummary: Sendable {
    /// The global loss of every step, identical on all ranks.
    public var stepLosses: [StepLoss] = []
    /// The evaluation of the test split after the last epoch; rank 0 only.
    public var evaluation: EvaluationReport?
    /// Rows each rank trained on, in rank order.
    public var rowsPerRank: [Int] = []
    /// Final dense parameters by name, then embedding tables as `embedding.<feature>`; filled
    /// when `RunOptions.keepFinalParameters` is set.
    public var finalParameters: ParameterDump?
    /// The run directory rank 0 wrote, if any.
    public var runDirectory: String?
    /// SIGTERM or SIGINT when the run stopped early on that signal, after a final checkpoint.
    public var stopSignal: Int32?
    /// Steps whose batch was skipped for a NaN or Inf (`train.nonFinite` `skip`), over the whole
    /// run including the part before a resume.
    public var skippedSteps: Int {
        stepLosses.filter(\.isSkipped).count
    }
}

/// A whole training run on one rank: data preparation, training, evaluation and output.
public enum TrainingSession {
    public static func run(_ options: RunOptions, communicator: Communicator, logger: Logger) throws -> RunSummary {
        let config = options.config
        try verifySameConfig(config, communicator: communicator)
        try verifySameBuild(options.buildIdentity, communicator: communicator)
        do {
            try config.validate(source: options.configSource)
        } catch {
            // Every rank validates the same config, so every rank fails here together.
            throw CollectiveFailure(message: String(describing: error), underlying: error)
        }

        // The run directory comes first, so train.log records the whole run, failures included.
        let output = try communicator.runOnRoot { () -> String? in
            guard let path = options.runDirectory else { return nil }
            let url = URL(fileURLWithPath: path)
            let directory = try RunDirectory.create(runsRoot: url.deletingLastPathComponent(),
                                                    name: url.lastPathComponent, modelName: config.model.name,
                                                    overwrite: options.overwriteRunDirectory)
            try directory.writeConfig(config)
            return directory.url.path
        }
        var logger = logger
        var logFile: LogFile?
        if let output, communicator.rank == 0 {
            let file = try LogFile(url: RunDirectory(url: URL(fileURLWithPath: output)).logFileURL)
            logFile = file
            logger = Logger(rank: 0, worldSize: communicator.worldSize, level: logger.threshold, mirror: file)
        }
        defer { logFile?.close() }
        do {
            logger.info("starting \(config.model.name) on \(communicator.worldSize) rank(s), config \(options.configSource)")
            if let output {
                logger.info("run directory \(output)")
            }
            return try train(options, communicator: communicator, logger: logger, runDirectory: output)
        } catch {
            if let logFile {
                logFile.write(Logger.formatLines(date: Date(), rank: 0, worldSize: communicator.worldSize, level: .error,
                                                 message: String(describing: error)))
            }
            throw error
        }
    }

    static func train(_ options: RunOptions, communicator: Communicator, logger: Logger,
                      runDirectory output: String?) throws -> RunSummary {
        let config = options.config
        let dataset = try openDataset(options, communicator: communicator, logger: logger)
        let trainer = try Trainer(config: config, dataset: dataset, communicator: communicator)
        let denseCount = trainer.model.parameters.reduce(0) { $0 + $1.value.count }
        logger.info("model \(config.model.name): \(denseCount) dense parameters, \(trainer.embeddings.parameterCount) embedding parameters in \(trainer.layout.names.count) tables (\(config.train.embeddingLayout))")
        if let sharded = trainer.embeddings as? RowShardedEmbeddingTables, communicator.rank == 0 {
            logger.info(ShardingReport.format(sharded.planSummary()))
        }
        if let reason = trainer.overlapFallbackReason, communicator.rank == 0 {
            logger.warning(reason)
        }
        var summary = RunSummary()
        summary.runDirectory = output

        let settings = config.train
        var report: EvaluationReport?
        var start = TrainingPosition(epoch: 0, stepInEpoch: 0)
        if let resumeFrom = options.resumeFrom {
            let clock = DispatchClock.now()
            let checkpoint = try CheckpointLoader.load(resumeFrom, into: trainer, resuming: true)
            start = checkpoint.position
            summary.stepLosses = checkpoint.stepLosses
            report = checkpoint.manifest.metrics
            if communicator.rank == 0 {
                for warning in checkpoint.warnings { logger.warning(warning) }
            }
            logger.info("resumed from \(checkpoint.directory.path) (saved on \(checkpoint.manifest.worldSize) rank(s)) at epoch \(start.epoch + 1), step \(start.stepInEpoch) of the epoch, global step \(trainer.globalStep); loaded in \(String(format: "%.2f", DispatchClock.seconds(since: clock))) s")
        }
        var checkpointWriter = try makeCheckpointWriter(settings, runDirectory: output)
        var lastCheckpointStep: Int?
        func saveCheckpoint(_ position: TrainingPosition) throws {
            guard let checkpointWriter, lastCheckpointStep != trainer.globalStep else { return }
            let clock = DispatchClock.now()
            let folder = try checkpointWriter.save(trainer, position: position, stepLosses: summary.stepLosses, metrics: report)
            lastCheckpointStep = trainer.globalStep
            logger.info("checkpoint \(folder.path) written in \(String(format: "%.2f", DispatchClock.seconds(since: clock))) s")
        }

        let progressStyle = options.progressStyle ?? ProgressStyle.forStandardOutput()
        var stepRecorder = output.flatMap { path in
            communicator.rank == 0 ? StepRecorder(directory: RunDirectory(url: URL(fileURLWithPath: path)),
                                                  taskNames: trainer.taskNames) : nil
        }
        var position = start
        epochs: for epoch in start.epoch..<max(settings.epochs, start.epoch) {
            if let maxSteps = settings.maxSteps, trainer.globalStep >= maxSteps {
                break
            }
            let plan = trainer.plan(epoch: epoch)
            let firstStep = epoch == start.epoch ? min(start.stepInEpoch, plan.stepCount) : 0
            position = TrainingPosition(epoch: epoch, stepInEpoch: firstStep)
            logger.info("epoch \(epoch + 1)/\(settings.epochs): \(plan.stepCount) steps of \(settings.batchSize) rows over \(communicator.worldSize) rank(s)")
            var progress = ProgressMeter(epoch: epoch + 1, epochCount: settings.epochs, plan: plan,
                                         taskNames: trainer.taskNames, firstStep: firstStep)
            var throttle = ProgressThrottle(style: progressStyle, lineIntervalSeconds: options.progressIntervalSeconds)
            var skipped = summary.skippedSteps
            for step in firstStep..<plan.stepCount {
                let loss = try trainer.trainStep(plan: plan, step: step, receivedSignal: StopSignal.received)
                position.stepInEpoch = step + 1
                summary.stepLosses.append(loss)
                progress.record(loss)
                stepRecorder?.record(loss)
                if let reason = loss.skipReason {
                    // A diverged run can skip every step; after the first 10, one line per 100 skips.
                    skipped += 1
                    if skipped <= 10 || skipped % 100 == 0 {
                        logger.warning("skipped the batch of step \(trainer.globalStep) on every rank (train.nonFinite is skip): "
                                       + "\(reason)" + (skipped == 10 ? "; further skips are logged once per 100" : "")
                                       + (skipped > 10 ? " (\(skipped) skipped so far)" : ""))
                    }
                }
                if let every = options.checkEverySteps, trainer.globalStep % every == 0 {
                    try trainer.verifyReplicasAgree()
                }
                let reachedMaxSteps = settings.maxSteps.map { trainer.globalStep >= $0 } ?? false
                let lastStep = step == plan.stepCount - 1 || reachedMaxSteps
                if communicator.rank == 0 {
                    if trainer.globalStep % settings.logEverySteps == 0 || lastStep {
                        if logger.isEnabled(.debug) {
                            let phases = TrainingPhase.allCases.map { phase in
                                "\(phase.rawValue) \(String(format: "%.3f", trainer.phaseSeconds[phase] ?? 0))"
                            }
                            logger.debug("step \(trainer.globalStep): seconds so far by phase on rank 0: \(phases.joined(separator: ", "))")
                        }
                        try stepRecorder?.flush(step: trainer.globalStep, epoch: epoch + 1,
                                                learningRate: Double("\(settings.learningRate)") ?? Double(settings.learningRate))
                    }
                    if throttle.shouldPrint(isFinal: lastStep) {
                        let line = progress.line()
                        if progressStyle == .bar && !lastStep {
                            StandardStreamSink.standardOutput.write(line.formattedBar())
                        } else {
                            if progressStyle == .bar {
                                StandardStreamSink.standardOutput.write("\r\u{1B}[K")
                            }
                            logger.info(line.formatted())
                        }
                    }
                }
                let lastStepOfRun = reachedMaxSteps || (lastStep && epoch == settings.epochs - 1)
                // After the last step the run ends with its evaluation anyway, which a resumed
                // run would not repeat.
                if let signal = trainer.stopSignal, !lastStepOfRun {
                    logger.info("stopping after step \(trainer.globalStep) on \(StopSignal.name(signal))")
                    summary.stopSignal = signal
                    break epochs
                }
                // The save at the end of the run follows its evaluation, so it carries the metrics.
                if let every = settings.checkpointEverySteps, trainer.globalStep % every == 0, !lastStepOfRun {
                    try saveCheckpoint(position)
                }
                if reachedMaxSteps {
                    logger.info("stopping after \(trainer.globalStep) steps (train.maxSteps)")
                    break
                }
            }
            if dataset.test.count > 0 {
                report = try evaluate(trainer, dataset: dataset, epoch: epoch + 1, logger: logger, runDirectory: output,
                                      lastLoss: summary.stepLosses.last, skippedSteps: summary.skippedSteps)
                if let output, communicator.rank == 0 {
                    try RunPlots.write(directory: URL(fileURLWithPath: output))
                }
            }
        }
        if summary.stopSignal != nil, checkpointWriter == nil, let output {
            // A stop always leaves a checkpoint to resume from, also without train.checkpointEverySteps.
            checkpointWriter = CheckpointWriter(runDirectory: URL(fileURLWithPath: output), keepCheckpoints: settings.keepCheckpoints)
        }
        try saveCheckpoint(position)
        if summary.skippedSteps > 0 {
            logger.warning("skipped \(summary.skippedSteps) of \(summary.stepLosses.count) steps for a NaN or Inf (train.nonFinite is skip)")
        }
        if summary.stopSignal != nil {
            // The parameters are those of an unfinished run: nothing more is evaluated or dumped.
            return summary
        }

        summary.rowsPerRank = try communicator.allgather(trainer.localRowsTrained)
        if communicator.rank == 0 {
            let rows = summary.rowsPerRank.enumerated().map { "rank \($0.offset): \($0.element)" }
            logger.info("rows trained per rank: \(rows.joined(separator: ", ")) (total \(summary.rowsPerRank.reduce(0, +)))")
        }
        summary.evaluation = report
        if options.keepFinalParameters || options.parameterDumpPath != nil {
            var arrays = trainer.model.parameters.map { (name: $0.name, values: $0.value.scalars) }
            for (feature, name) in trainer.layout.names.enumerated() {
                let table = try trainer.embeddings.gatherTable(feature, root: 0)
                arrays.append((name: "embedding." + name, values: table ?? []))
            }
            let bufferMeans = Trainer.meanOverRanks(try trainer.gatherBufferValues())
            var offset = 0
            for buffer in trainer.model.buffers {
                arrays.append((name: "buffer." + buffer.name, values: Array(bufferMeans[offset..<(offset + buffer.count)])))
                offset += buffer.count
            }
            let dump = ParameterDump(arrays: arrays, stepLosses: summary.stepLosses.map(\.taskLosses))
            if options.keepFinalParameters {
                summary.finalParameters = dump
            }
            if let path = options.parameterDumpPath {
                _ = try communicator.runOnRoot { () -> Bool in
                    try dump.write(to: path)
                    logger.info("wrote the final parameters and step losses to \(path)")
                    return true
                }
            }
        }
        return summary
    }

    /// Returns the writer of `train.checkpointEverySteps`, nil when the config asks for none.
    static func makeCheckpointWriter(_ settings: TrainSettings, runDirectory: String?) throws -> CheckpointWriter? {
        guard settings.checkpointEverySteps != nil else { return nil }
        guard let runDirectory else {
            throw CollectiveFailure(message: "train.checkpointEverySteps needs a run directory to write checkpoints into",
                                    underlying: TrainerError.configMismatch(
                                        key: "train.checkpointEverySteps",
                                        message: "checkpoints need a run directory; give --run-dir or remove the key"))
        }
        return CheckpointWriter(runDirectory: URL(fileURLWithPath: runDirectory), keepCheckpoints: settings.keepCheckpoints)
    }

    /// Stops every rank when the ranks were started with different configs.
    static func verifySameConfig(_ config: TrainerConfig, communicator: Communicator) throws {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in try config.encodedJSON() {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        let hashes = try communicator.allgather(hash)
        let differing = hashes.indices.filter { hashes[$0] != hashes[0] }
        if !differing.isEmpty {
            throw TrainerError.configMismatch(
                key: "config",
                message: "\(rankList(differing)) started with a config that differs from rank 0's (the file or a command-line option such as --seed); start every rank with the same file and options")
        }
    }

    /// Stops every rank when the ranks run different trainer executables. A rank without an
    /// identity counts as 0, so it differs from any rank that has one.
    static func verifySameBuild(_ identity: BuildIdentity?, communicator: Communicator) throws {
        let hashes = try communicator.allgather(identity?.hash ?? 0)
        let paths = try communicator.allgatherv(Array((identity?.executablePath ?? "unknown executable").utf8))
            .map { String(decoding: $0, as: UTF8.self) }
        let differing = hashes.indices.filter { hashes[$0] != hashes[0] }
        if !differing.isEmpty {
            let error = TrainerError.buildMismatch(ranks: differing, executables: paths)
            // Every rank finds the same difference, so every rank stops here together.
            throw CollectiveFailure(message: String(describing: error), underlying: error)
        }
    }

    /// Prepares the binary data on rank 0 (or reuses it) and opens it on every rank, preparing
    /// a copy on nodes that do not see rank 0's cache folder (`NodeLocalData`). Stops when no
    /// training row is left; warns when no test row is.
    static func openDataset(_ options: RunOptions, communicator: Communicator, logger: Logger) throws -> PreparedDataset {
        let path = try communicator.runOnRoot { () -> String in
            let result = try DataPreparation.prepare(config: options.config.data, dataDirectory: nil,
                                                     cacheDirectory: options.cacheDirectory)
            if result.report.trainRows == 0 {
                throw TrainerError.emptySplit(
                    split: "train", hint: "no log row is kept by data.scene.values and data.split.trainMax; check both against the data")
            }
            if result.report.testRows == 0 {
                logger.warning("the test split is empty (data.split.testMin \(options.config.data.split.testMin)); training runs without evaluation")
            }
            logger.info(result.reusedCache ? "reusing prepared data \(result.path)" : "prepared data \(result.path)")
            logDataReport(result.report, logger: logger)
            return result.path
        }
        return try NodeLocalData.open(rootPath: path, options: options, communicator: communicator, logger: logger)
    }

    static func logDataReport(_ report: PreparationReport, logger: Logger) {
        logger.info("data: \(report.logRows) log rows read, \(report.trainRows) train, \(report.testRows) test")
        let dropped = report.droppedBySceneValue.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
        if !dropped.isEmpty {
            logger.info("data: dropped \(report.droppedBySceneValue.values.reduce(0, +)) rows of other scene values (\(dropped.joined(separator: ", ")))")
        }
        if report.droppedOutOfSplit > 0 {
            logger.info("data: dropped \(report.droppedOutOfSplit) rows outside both splits")
        }
        for (table, count) in report.missingJoinKeys.sorted(by: { $0.key < $1.key }) where count > 0 {
            logger.info("data: \(count) log rows have no match in \(table); its features are missing for them")
        }
        if report.skippedRows.total > 0 {
            logger.warning("data: skipped \(report.skippedRows.total) bad log rows (data.errors): \(report.skippedRows.summary)")
        }
        for (file, counts) in report.skippedSideTableRows.sorted(by: { $0.key < $1.key }) where counts.total > 0 {
            logger.warning("data: skipped \(counts.total) bad rows of \(file) (data.errors): \(counts.summary)")
        }
    }

    /// Scores the test split, and on rank 0 prints the metrics and writes them to the run directory.
    static func evaluate(_ trainer: Trainer, dataset: PreparedDataset, epoch: Int, logger: Logger,
                         runDirectory: String?, lastLoss: StepLoss?, skippedSteps: Int) throws -> EvaluationReport? {
        let losses = lastLoss.map { loss in Dictionary(uniqueKeysWithValues: zip(trainer.taskNames, loss.taskLosses)) }
        guard let scores = try trainer.predictTestSplit() else { return nil }
        let test = dataset.test
        let report = try makeReport(trainer, dataset: dataset, scores: scores)
        logger.info("evaluation after epoch \(epoch) (step \(trainer.globalStep)), \(test.count) test rows:\n" + report.formattedTables().trimmingCharacters(in: .newlines))
        if let runDirectory {
            let directory = RunDirectory(url: URL(fileURLWithPath: runDirectory))
            let record = EvaluationRecord(epoch: epoch, step: trainer.globalStep, trainLosses: losses,
                                          skippedSteps: skippedSteps, skippedRows: dataset.report.skippedRows,
                                          skippedSideTableRows: dataset.report.skippedSideTableRows, evaluation: report)
            try directory.writeMetrics(record)
            try directory.appendMetricsLine(record)
        }
        return report
    }
}

extension TrainingSession {
    /// Returns the metrics of `scores` `[N, T]`, the probabilities of every test row.
    static func makeReport(_ trainer: Trainer, dataset: PreparedDataset, scores: [Float]) throws -> EvaluationReport {
        let test = dataset.test
        let taskCount = trainer.taskNames.count
        let dataTaskCount = dataset.schema.taskNames.count
        var labels = [Float](repeating: 0, count: test.count * taskCount)
        for row in 0..<test.count {
            for task in 0..<taskCount {
                labels[row * taskCount + task] = test.labels[row * dataTaskCount + task]
            }
        }
        return try EvaluationReport(
            scores: scores, labels: labels, users: Array(test.users), scenes: Array(test.scenes),
            taskNames: trainer.taskNames, sceneNames: dataset.schema.sceneValues)
    }
}

/// The content of `metrics.json` after each evaluation, and of each evaluation line of `metrics.jsonl`.
struct EvaluationRecord: Encodable {
    let epoch: Int
    let step: Int
    /// The global loss of each task at the last step before the evaluation, by task name.
    let trainLosses: [String: Double]?
    /// Steps skipped so far for a NaN or Inf in a loss or gradient.
    let skippedSteps: Int
    /// Log rows skipped by the data.errors policies, per kind of fault.
    let skippedRows: BadRowCounts
    /// Side-table rows skipped by the data.errors policies, per file and kind.
    let skippedSideTableRows: [String: BadRowCounts]
    let evaluation: EvaluationReport
}

/// "rank 3 was" or "ranks 1, 3 were", for messages about a set of ranks.
func rankList(_ ranks: [Int]) -> String {
    ranks.count == 1 ? "rank \(ranks[0]) was" : "ranks \(ranks.map(String.init).joined(separator: ", ")) were"
}
