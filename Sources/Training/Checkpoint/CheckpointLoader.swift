import Communication
import Foundation
import TensorCore

/// A checkpoint read into a `Trainer`: its folder, its manifest and the step losses it saved.
public struct LoadedCheckpoint: Sendable {
    public let directory: URL
    public let manifest: CheckpointManifest
    public let stepLosses: [StepLoss]
    /// Log lines, one for each kind of state that this build saves but the checkpoint lacks.
    public let warnings: [String]

    public var position: TrainingPosition {
        TrainingPosition(epoch: manifest.epoch, stepInEpoch: manifest.stepInEpoch)
    }
}

/// Finds, verifies and loads checkpoints that `CheckpointWriter` wrote.
public enum CheckpointLoader {
    /// Returns the checkpoint folder that `path` names: a checkpoint folder itself (it contains
    /// `manifest.json`), or a run directory or its `checkpoints/` folder, meaning the complete
    /// checkpoint with the highest step. Temporary folders of interrupted saves are skipped.
    public static func resolve(_ path: String) throws -> URL {
        let url = URL(fileURLWithPath: path, isDirectory: true).standardized
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CheckpointError.notFound(path: url.path, reason: "the folder does not exist")
        }
        if FileManager.default.fileExists(atPath: url.appendingPathComponent(CheckpointManifest.fileName).path) {
            return url
        }
        let nested = url.appendingPathComponent(CheckpointWriter.checkpointsFolderName, isDirectory: true)
        let folder = FileManager.default.fileExists(atPath: nested.path) ? nested : url
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        let complete = names.compactMap { name -> (URL, Int)? in
            guard let step = CheckpointManifest.step(ofDirectoryName: name) else { return nil }
            let candidate = folder.appendingPathComponent(name, isDirectory: true)
            let manifest = candidate.appendingPathComponent(CheckpointManifest.fileName)
            return FileManager.default.fileExists(atPath: manifest.path) ? (candidate, step) : nil
        }
        guard let newest = complete.max(by: { $0.1 < $1.1 }) else {
            let reason = url.lastPathComponent.contains(".tmp-")
                ? "it has no \(CheckpointManifest.fileName): an interrupted save left this folder; use a complete step-<N> folder"
                : "it has no \(CheckpointManifest.fileName) and no complete step-<N> checkpoint folder; pass a checkpoint folder or a run directory with checkpoints"
            throw CheckpointError.notFound(path: url.path, reason: reason)
        }
        return newest.0
    }

    /// Reads and decodes `manifest.json` of the checkpoint folder `directory`, rejecting other
    /// format versions before decoding the rest.
    public static func readManifest(directory: URL) throws -> CheckpointManifest {
        struct VersionOnly: Decodable { let formatVersion: Int }
        let url = directory.appendingPathComponent(CheckpointManifest.fileName)
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw CheckpointError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        let decoder = JSONDecoder()
        let version: Int
        do {
            version = try decoder.decode(VersionOnly.self, from: data).formatVersion
        } catch {
            throw CheckpointError.invalidManifest(path: url.path, reason: "no formatVersion: \(error)")
        }
        guard version == CheckpointManifest.currentFormatVersion else {
            throw CheckpointError.incompatible(path: url.path, what: "the format version", checkpoint: String(version),
                                               current: "\(CheckpointManifest.currentFormatVersion), the version this build reads")
        }
        do {
            return try decoder.decode(CheckpointManifest.self, from: data)
        } catch {
            throw CheckpointError.invalidManifest(path: url.path, reason: String(describing: error))
        }
    }

    /// Loads the checkpoint that `path` names into `trainer`; collective. Every rank reads the
    /// manifest, checks it against the trainer, reads the dense values and its own table rows
    /// by the current world size's sharding plan, and verifies every file's size and checksum.
    /// Any failure on any rank makes every rank throw `CollectiveFailure`.
    /// - Parameter resuming: also check what continuing the run needs (the training rows), and
    ///   restore the optimizers' step counts and the global step.
    public static func load(_ path: String, into trainer: Trainer, resuming: Bool) throws -> LoadedCheckpoint {
        try trainer.communicator.runOnEveryRank {
            let directory = try resolve(path)
            let manifest = try readManifest(directory: directory)
            try CheckpointCompatibility.check(manifest, against: trainer, resuming: resuming,
                                              manifestPath: directory.appendingPathComponent(CheckpointManifest.fileName).path)
            try loadDense(manifest, directory: directory, into: trainer)
            let warnings = try loadBuffers(manifest, directory: directory, into: trainer)
            for feature in trainer.layout.names.indices {
                try loadTable(feature, manifest: manifest, directory: directory, into: trainer)
            }
            let losses = try loadStepLosses(manifest, directory: directory, taskCount: trainer.taskNames.count)
            if resuming {
                trainer.globalStep = manifest.globalStep
                if let dense = trainer.optimizer as? ElementwiseOptimizer {
                    dense.stepCount = manifest.denseOptimizer.stepCount ?? 0
                }
                if let lazyAdam = trainer.embeddings.sparseOptimizer as? LazyAdam {
                    lazyAdam.stepCount = manifest.sparseOptimizer.stepCount ?? 0
                }
            }
            return LoadedCheckpoint(directory: directory, manifest: manifest, stepLosses: losses, warnings: warnings)
        }
    }

    static func entry(_ name: String, in manifest: CheckpointManifest, directory: URL) throws -> CheckpointFileReader {
        guard let entry = manifest.files.first(where: { $0.name == name }) else {
            throw CheckpointError.invalidManifest(path: directory.appendingPathComponent(CheckpointManifest.fileName).path,
                                                  reason: "it does not list \(name)")
        }
        return CheckpointFileReader(directory: directory, entry: entry)
    }

    static func loadDense(_ manifest: CheckpointManifest, directory: URL, into trainer: Trainer) throws {
        let valuesReader = try entry(CheckpointManifest.denseFileName, in: manifest, directory: directory)
        let values = try valuesReader.readAll(Float.self)
        let stateReader = try entry(CheckpointManifest.denseOptimizerFileName, in: manifest, directory: directory)
        let state = try stateReader.readAll(Float.self)
        let expectedValues = manifest.dense.reduce(0) { $0 + $1.shape.reduce(1, *) }
        let expectedState = manifest.dense.reduce(0) { $0 + $1.shape.reduce(1, *) * $1.stateSlots }
        guard values.count == expectedValues else {
            throw CheckpointError.invalidManifest(path: valuesReader.url.path,
                                                  reason: "holds \(values.count) values but the dense shapes need \(expectedValues)")
        }
        guard state.count == expectedState else {
            throw CheckpointError.invalidManifest(path: stateReader.url.path,
                                                  reason: "holds \(state.count) values but the optimizer state needs \(expectedState)")
        }

        var valueOffset = 0
        var stateOffset = 0
        var optimizerState: [String: [Tensor]] = [:]
        for (parameter, saved) in zip(trainer.model.parameters, manifest.dense) {
            let count = parameter.value.count
            parameter.value = Tensor(shape: parameter.shape, scalars: Array(values[valueOffset..<(valueOffset + count)]))
            valueOffset += count
            if saved.stateSlots > 0 {
                optimizerState[parameter.name] = (0..<saved.stateSlots).map { slot in
                    let start = stateOffset + slot * count
                    return Tensor(shape: parameter.shape, scalars: Array(state[start..<(start + count)]))
                }
                stateOffset += saved.stateSlots * count
            }
        }
        (trainer.optimizer as? ElementwiseOptimizer)?.state = optimizerState
    }

    /// Restores the model's buffers: each rank its own copy when the world size is the saving
    /// run's, else every rank the mean of the saved copies. A checkpoint of an earlier build has
    /// none, so the buffers keep their initial values and the returned warning reports it.
    static func loadBuffers(_ manifest: CheckpointManifest, directory: URL, into trainer: Trainer) throws -> [String] {
        let buffers = trainer.model.buffers
        guard let saved = manifest.buffers else {
            guard !buffers.isEmpty else { return [] }
            return ["checkpoint \(directory.path) has no model buffers (\(buffers.map(\.name).joined(separator: ", "))): "
                    + "it was written by an earlier build, so they start from their initial values"]
        }
        guard !saved.isEmpty else { return [] }

        let reader = try entry(CheckpointManifest.buffersFileName, in: manifest, directory: directory)
        let values = try reader.readAll(Float.self)
        let perCopy = saved.reduce(0) { $0 + $1.count }
        // The file contains one copy per rank of the saving run. An earlier build saved a single
        // copy, the mean over ranks, so every rank starts from it.
        let copies = values.count == perCopy ? 1 : manifest.worldSize
        guard values.count == copies * perCopy else {
            throw CheckpointError.invalidManifest(
                path: reader.url.path,
                reason: "contains \(values.count) values but \(copies) rank copies of the buffers need \(copies * perCopy); "
                    + "the file is damaged, so resume from an earlier checkpoint")
        }

        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            // Find the buffer of the bad value's position within its rank's copy.
            var start = 0
            var name = "?"
            for entry in saved {
                if bad % perCopy < start + entry.count {
                    name = entry.name
                    break
                }
                start += entry.count
            }
            throw CheckpointError.invalidManifest(
                path: reader.url.path,
                reason: "buffer \(name) of rank \(bad / perCopy) contains \(values[bad]), which is not finite; "
                    + "the checkpoint is damaged, so resume from an earlier one")
        }

        let perRank = (0..<copies).map { Array(values[($0 * perCopy)..<(($0 + 1) * perCopy)]) }
        let rank = trainer.communicator.rank
        trainer.setBufferValues(copies == trainer.communicator.worldSize ? perRank[rank] : Trainer.meanOverRanks(perRank))
        return []
    }

    /// Reads a table's rows and state files front to back and keeps the rows this rank holds.
    static func loadTable(_ feature: Int, manifest: CheckpointManifest, directory: URL, into trainer: Trainer) throws {
        let embeddings = trainer.embeddings
        let rank = trainer.communicator.rank
        let placement = embeddings.rowPlacement
        let table = manifest.tables[feature]
        let rowsReader = try entry(CheckpointManifest.rowsFileName(feature: feature), in: manifest, directory: directory)
        let stateReader = try entry(CheckpointManifest.stateFileName(feature: feature), in: manifest, directory: directory)
        for (reader, width) in [(rowsReader, table.dimension), (stateReader, table.stateWidth)] {
            let expected = table.rows * width * MemoryLayout<Float>.size
            guard reader.entry.bytes == expected else {
                throw CheckpointError.invalidManifest(
                    path: reader.url.path, reason: "lists \(reader.entry.bytes) bytes but \(table.rows) rows of width \(width) need \(expected)")
            }
        }

        try embeddings.withLocalRows(feature) { weights, state in
            func copyHeldRows(from reader: CheckpointFileReader, width: Int, into destination: inout [Float]) throws {
                guard width > 0 else {
                    try reader.read(elementBytes: 1) { _ in }
                    return
                }
                var firstRow = 0
                try destination.withUnsafeMutableBufferPointer { target in
                    try reader.read(elementBytes: width * MemoryLayout<Float>.size) { block in
                        let values = block.bindMemory(to: Float.self)
                        let rowCount = values.count / width
                        for row in firstRow..<(firstRow + rowCount) {
                            let localIndex: Int
                            switch placement {
                            case .replicated:
                                localIndex = row
                            case .sharded(let plan):
                                guard plan.owner(of: row) == rank else { continue }
                                localIndex = plan.localIndex(of: row)
                            }
                            (target.baseAddress! + localIndex * width)
                                .update(from: values.baseAddress! + (row - firstRow) * width, count: width)
                        }
                        firstRow += rowCount
                    }
                }
            }
            try copyHeldRows(from: rowsReader, width: table.dimension, into: &weights)
            try copyHeldRows(from: stateReader, width: table.stateWidth, into: &state)
        }
    }

    static func loadStepLosses(_ manifest: CheckpointManifest, directory: URL, taskCount: Int) throws -> [StepLoss] {
        let reader = try entry(CheckpointManifest.stepLossesFileName, in: manifest, directory: directory)
        let values = try reader.readAll(Double.self)
        let width = 1 + taskCount
        guard values.count % width == 0 else {
            throw CheckpointError.invalidManifest(path: reader.url.path,
                                                  reason: "holds \(values.count) values, not a whole number of steps of \(width)")
        }
        return (0..<(values.count / width)).map { step in
            StepLoss(step: step, rows: Int(values[step * width]),
                     taskLosses: Array(values[(step * width + 1)..<((step + 1) * width)]))
        }
    }
}
