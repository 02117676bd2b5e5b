import Communication
import Foundation
import TensorCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The point where training continues after a checkpoint: the epoch (from 0) and the step within it.
public struct TrainingPosition: Sendable, Equatable {
    public var epoch: Int
    public var stepInEpoch: Int

    public init(epoch: Int, stepInEpoch: Int) {
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
    }
}

/// Writes checkpoints of a `Trainer` into `<run directory>/checkpoints/step-<N>/`.
///
/// Every rank calls `save` at the same step, and rank 0 writes every file. The embedding rows
/// and their optimizer state travel from their owners to rank 0 one table at a time, in blocks
/// of global rows. So rank 0 keeps at most one block of one table besides its own shard.
///
/// The save is atomic: files go into `step-<N>.tmp-<pid>/`, each synced, then the manifest, and
/// only then is the folder renamed to `step-<N>` and the `latest` file replaced. A crash leaves
/// the previous checkpoints as they were and a temporary folder that readers ignore. Older
/// checkpoints beyond `keepCheckpoints` are deleted after the rename.
public struct CheckpointWriter {
    public static let checkpointsFolderName = "checkpoints"
    public static let latestFileName = "latest"
    /// Test hook: when set to a step, rank 0 kills its own process with SIGKILL halfway through
    /// writing that step's checkpoint, after the first table's rows file.
    public static let killDuringSaveEnvironmentVariable = "TRAINER_TEST_KILL_DURING_CHECKPOINT_STEP"
    /// Bytes of rows and state one rank sends rank 0 at a time.
    static let transferBlockBytes = 32 << 20
    static let rowsTag = 0x4350
    static let stateTag = 0x4351

    /// `<run directory>/checkpoints`.
    public let folder: URL
    public let keepCheckpoints: Int

    public init(runDirectory: URL, keepCheckpoints: Int) {
        precondition(keepCheckpoints >= 1, "keepCheckpoints must be at least 1, got \(keepCheckpoints)")
        folder = runDirectory.appendingPathComponent(Self.checkpointsFolderName, isDirectory: true)
        self.keepCheckpoints = keepCheckpoints
    }

    /// Saves `trainer` at `position`; collective. Returns the checkpoint folder on every rank.
    /// - Parameters:
    ///   - stepLosses: every step's global loss so far, identical on all ranks.
    ///   - metrics: the last evaluation, on rank 0.
    @discardableResult
    public func save(_ trainer: Trainer, position: TrainingPosition, stepLosses: [StepLoss],
                     metrics: EvaluationReport?) throws -> URL {
        let communicator = trainer.communicator
        let isRoot = communicator.rank == 0
        let step = trainer.globalStep
        let bufferCopies = try trainer.gatherBufferValues()
        let final = folder.appendingPathComponent(CheckpointManifest.directoryName(step: step), isDirectory: true)
        let temporary = folder.appendingPathComponent(CheckpointManifest.directoryName(step: step) + ".tmp-\(getpid())",
                                                      isDirectory: true)

        // Rank 0 records its first failure and keeps taking part in the transfers, so the
        // other ranks are never left blocked in a send. The failure is shared at the end.
        var failure: Error?
        var files: [CheckpointManifest.FileEntry] = []
        func attempt(_ work: () throws -> Void) {
            guard isRoot, failure == nil else { return }
            do { try work() } catch { failure = error }
        }
        attempt {
            try Self.createFolder(folder)
            if FileManager.default.fileExists(atPath: temporary.path) {
                try FileManager.default.removeItem(at: temporary)
            }
            try Self.createFolder(temporary)
        }
        let diskFull = trainer.testHooks.diskFullAtStep == step
        attempt { files += try writeDense(trainer, into: temporary, device: diskFull ? "/dev/full" : nil) }
        attempt { files.append(try writeStepLosses(stepLosses, taskCount: trainer.taskNames.count, into: temporary)) }
        if !trainer.model.buffers.isEmpty {
            attempt { files.append(try writeBuffers(bufferCopies, into: temporary)) }
        }
        for feature in trainer.layout.names.indices {
            var writers: (rows: CheckpointFileWriter, state: CheckpointFileWriter)?
            attempt {
                writers = (try CheckpointFileWriter(url: temporary.appendingPathComponent(CheckpointManifest.rowsFileName(feature: feature))),
                           try CheckpointFileWriter(url: temporary.appendingPathComponent(CheckpointManifest.stateFileName(feature: feature))))
            }
            try transferTable(feature, of: trainer) { rows, state in
                attempt {
                    try writers?.rows.append(rows)
                    try writers?.state.append(state)
                }
            }
            attempt {
                if let writers {
                    files.append(try writers.rows.finish())
                    files.append(try writers.state.finish())
                }
            }
            if isRoot, feature == 0, ProcessInfo.processInfo.environment[Self.killDuringSaveEnvironmentVariable] == String(step) {
                kill(getpid(), SIGKILL)
            }
        }
        attempt {
            let manifest = makeManifest(trainer, position: position, metrics: metrics, files: files)
            try Self.writeManifest(manifest, into: temporary)
            syncDirectory(temporary)
            if FileManager.default.fileExists(atPath: final.path) {
                // A checkpoint of the same step from an earlier, resumed run: the new one replaces it.
                try FileManager.default.removeItem(at: final)
            }
            guard rename(temporary.path, final.path) == 0 else {
                throw CheckpointError.writeFailed(path: final.path, reason: "rename from \(temporary.lastPathComponent) failed: \(systemErrorMessage())")
            }
            syncDirectory(folder)
            try writeLatest(final.lastPathComponent)
            try prune(keeping: final.lastPathComponent)
        }
        if isRoot, failure != nil {
            // The older checkpoints stay as they are; a half-written folder would only take space.
            try? FileManager.default.removeItem(at: temporary)
        }
        let path = try communicator.runOnRoot { () -> String in
            if let failure { throw failure }
            return final.path
        }
        return URL(fileURLWithPath: path, isDirectory: true)
    }

    /// Sends `feature`'s rows and optimizer state to rank 0 in blocks of global rows, and on
    /// rank 0 calls `write` with each block `[rows·D]` and `[rows·stateWidth]` in global order.
    func transferTable(_ feature: Int, of trainer: Trainer,
                       write: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) throws {
        let communicator = trainer.communicator
        let rank = communicator.rank
        let embeddings = trainer.embeddings
        let rowCount = embeddings.tableRows[feature]
        let dimension = trainer.layout.widths[feature]
        let stateWidth = embeddings.sparseOptimizer.stateWidth(dimension: dimension)

        try embeddings.withLocalRows(feature) { weights, state in
            guard case .sharded(let plan) = embeddings.rowPlacement else {
                // Replicated tables: rank 0 already has every row in global order.
                if rank == 0 {
                    weights.withUnsafeBytes { rows in state.withUnsafeBytes { write(rows, $0) } }
                }
                return
            }
            let blockRows = max(plan.worldSize, Self.transferBlockBytes / max((dimension + stateWidth) * 4, 1))
            for blockStart in stride(from: 0, to: rowCount, by: blockRows) {
                let blockEnd = min(blockStart + blockRows, rowCount)
                func localRange(_ owner: Int) -> Range<Int> {
                    plan.localRowCount(rows: blockStart, rank: owner)..<plan.localRowCount(rows: blockEnd, rank: owner)
                }
                guard rank == 0 else {
                    let local = localRange(rank)
                    if !local.isEmpty {
                        try communicator.send(Array(weights[(local.lowerBound * dimension)..<(local.upperBound * dimension)]),
                                              to: 0, tag: Self.rowsTag)
                        try communicator.send(Array(state[(local.lowerBound * stateWidth)..<(local.upperBound * stateWidth)]),
                                              to: 0, tag: Self.stateTag)
                    }
                    continue
                }

                var blockWeights = [Float](repeating: 0, count: (blockEnd - blockStart) * dimension)
                var blockState = [Float](repeating: 0, count: (blockEnd - blockStart) * stateWidth)
                for owner in 0..<plan.worldSize {
                    let local = localRange(owner)
                    if local.isEmpty { continue }
                    let ownerWeights: ArraySlice<Float>
                    let ownerState: ArraySlice<Float>
                    if owner == 0 {
                        ownerWeights = weights[(local.lowerBound * dimension)..<(local.upperBound * dimension)]
                        ownerState = state[(local.lowerBound * stateWidth)..<(local.upperBound * stateWidth)]
                    } else {
                        ownerWeights = try communicator.receive(Float.self, count: local.count * dimension, from: owner,
                                                                tag: Self.rowsTag)[...]
                        ownerState = try communicator.receive(Float.self, count: local.count * stateWidth, from: owner,
                                                              tag: Self.stateTag)[...]
                    }
                    for (offset, localIndex) in local.enumerated() {
                        let row = plan.globalRow(localIndex: localIndex, rank: owner) - blockStart
                        let source = ownerWeights.startIndex + offset * dimension
                        blockWeights.replaceSubrange((row * dimension)..<((row + 1) * dimension),
                                                     with: ownerWeights[source..<(source + dimension)])
                        let stateSource = ownerState.startIndex + offset * stateWidth
                        blockState.replaceSubrange((row * stateWidth)..<((row + 1) * stateWidth),
                                                   with: ownerState[stateSource..<(stateSource + stateWidth)])
                    }
                }
                blockWeights.withUnsafeBytes { rows in blockState.withUnsafeBytes { write(rows, $0) } }
            }
        }
    }

    private func writeDense(_ trainer: Trainer, into directory: URL,
                            device: String?) throws -> [CheckpointManifest.FileEntry] {
        let values = try CheckpointFileWriter(url: directory.appendingPathComponent(CheckpointManifest.denseFileName),
                                              device: device)
        let state = try CheckpointFileWriter(url: directory.appendingPathComponent(CheckpointManifest.denseOptimizerFileName))
        let optimizerState = (trainer.optimizer as? ElementwiseOptimizer)?.state ?? [:]
        for parameter in trainer.model.parameters {
            try values.append(parameter.value.scalars)
            for slot in optimizerState[parameter.name] ?? [] {
                try state.append(slot.scalars)
            }
        }
        return [try values.finish(), try state.finish()]
    }

    /// Writes every rank's buffers, rank by rank, so a run resumed on the same world size
    /// continues each rank's statistics exactly.
    private func writeBuffers(_ copies: [[Float]], into directory: URL) throws -> CheckpointManifest.FileEntry {
        let writer = try CheckpointFileWriter(url: directory.appendingPathComponent(CheckpointManifest.buffersFileName))
        for values in copies {
            try writer.append(values)
        }
        return try writer.finish()
    }

    private func writeStepLosses(_ losses: [StepLoss], taskCount: Int,
                                 into directory: URL) throws -> CheckpointManifest.FileEntry {
        let writer = try CheckpointFileWriter(url: directory.appendingPathComponent(CheckpointManifest.stepLossesFileName))
        var values = [Double]()
        values.reserveCapacity(losses.count * (1 + taskCount))
        for loss in losses {
            precondition(loss.taskLosses.count == taskCount, "step \(loss.step) has \(loss.taskLosses.count) losses for \(taskCount) tasks")
            values.append(Double(loss.rows))
            values.append(contentsOf: loss.taskLosses)
        }
        try writer.append(values)
        return try writer.finish()
    }

    private func makeManifest(_ trainer: Trainer, position: TrainingPosition, metrics: EvaluationReport?,
                              files: [CheckpointManifest.FileEntry]) -> CheckpointManifest {
        let optimizerState = (trainer.optimizer as? ElementwiseOptimizer)?.state ?? [:]
        let sparse = trainer.embeddings.sparseOptimizer
        return CheckpointManifest(
            formatVersion: CheckpointManifest.currentFormatVersion, modelName: trainer.config.model.name,
            config: trainer.config, worldSize: trainer.communicator.worldSize, globalStep: trainer.globalStep,
            epoch: position.epoch, stepInEpoch: position.stepInEpoch, trainRows: trainer.dataset.train.count,
            randomState: "none: shuffling, dropout and initialization derive from train.seed, the epoch and the global step",
            metrics: metrics, files: files,
            tables: trainer.layout.names.enumerated().map { feature, name in
                CheckpointManifest.TableEntry(feature: name, rows: trainer.embeddings.tableRows[feature],
                                              dimension: trainer.layout.widths[feature],
                                              stateWidth: sparse.stateWidth(dimension: trainer.layout.widths[feature]))
            },
            dense: trainer.model.parameters.map {
                CheckpointManifest.DenseEntry(name: $0.name, shape: $0.shape, stateSlots: optimizerState[$0.name]?.count ?? 0)
            },
            buffers: trainer.model.buffers.map { CheckpointManifest.BufferEntry(name: $0.name, count: $0.count) },
            denseOptimizer: CheckpointManifest.OptimizerEntry(name: trainer.config.train.optimizer,
                                                              stepCount: (trainer.optimizer as? ElementwiseOptimizer)?.stepCount),
            sparseOptimizer: CheckpointManifest.OptimizerEntry(name: trainer.config.train.sparseOptimizer,
                                                               stepCount: (sparse as? LazyAdam)?.stepCount))
    }

    static func writeManifest(_ manifest: CheckpointManifest, into directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let url = directory.appendingPathComponent(CheckpointManifest.fileName)
        let writer = try CheckpointFileWriter(url: url)
        try writer.append(Array(try encoder.encode(manifest)) + Array("\n".utf8))
        _ = try writer.finish()
    }

    /// Replaces `checkpoints/latest` with the newest checkpoint's folder name. Readers do not
    /// need it: they pick the highest complete `step-<N>`.
    private func writeLatest(_ name: String) throws {
        do {
            try RunDirectory.writeAtomically(Data((name + "\n").utf8), to: folder.appendingPathComponent(Self.latestFileName))
        } catch {
            throw CheckpointError.writeFailed(path: folder.appendingPathComponent(Self.latestFileName).path,
                                              reason: String(describing: error))
        }
    }

    /// Deletes complete checkpoints older than the newest `keepCheckpoints`, and temporary
    /// folders that interrupted saves left behind.
    private func prune(keeping newest: String) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        let complete = names.compactMap { name in CheckpointManifest.step(ofDirectoryName: name).map { (name, $0) } }
            .sorted { $0.1 < $1.1 }
        var doomed = complete.dropLast(keepCheckpoints).map(\.0)
        doomed += names.filter { $0.hasPrefix("step-") && $0.contains(".tmp-") }
        for name in doomed where name != newest {
            do {
                try FileManager.default.removeItem(at: folder.appendingPathComponent(name))
            } catch {
                throw CheckpointError.writeFailed(path: folder.appendingPathComponent(name).path,
                                                  reason: "cannot delete an old checkpoint: \(error.localizedDescription)")
            }
        }
    }

    static func createFolder(_ url: URL) throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError.writeFailed(path: url.path, reason: error.localizedDescription)
        }
    }
}
