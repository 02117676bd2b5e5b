import Communication
import Foundation
import Models
@testable import Training
import XCTest

/// Model buffers (STAR's running statistics): averaged over ranks, saved in checkpoints, restored
/// on resume and by `trainer eval`.
final class ModelBufferTests: XCTestCase {
    /// STAR on the synthetic data; 3,000 rows and 256-row batches give 11 steps an epoch.
    func starConfig(_ folder: URL, steps: Int) throws -> TrainerConfig {
        var config = try syntheticConfig(directory: folder.appendingPathComponent("data"), rows: 3_000, batchSize: 256,
                                         maxSteps: steps, epochs: 3)
        config.model = ModelConfig(name: "star", options: [
            "hiddenUnits": .array([.number(16), .number(8)]),
            "auxiliaryUnits": .array([.number(4)]),
        ])
        return config
    }

    func train(_ config: TrainerConfig, worldSize: Int, folder: URL, runName: String? = nil,
               resumeFrom: String? = nil) throws -> [RunSummary] {
        var options = RunOptions(config: config, configSource: "test", cacheDirectory: folder.appendingPathComponent("cache").path)
        options.keepFinalParameters = true
        options.runDirectory = runName.map { folder.appendingPathComponent($0).path }
        options.resumeFrom = resumeFrom
        return try InProcessWorld.run(worldSize: worldSize) { communicator in
            try TrainingSession.run(options, communicator: communicator,
                                    logger: Logger(rank: communicator.rank, worldSize: worldSize, console: DiscardSink()))
        }
    }

    func evaluate(_ checkpoint: String, worldSize: Int, folder: URL, console: LogSink = DiscardSink()) throws -> EvaluationReport {
        var options = EvaluationOptions(checkpoint: checkpoint, cacheDirectory: folder.appendingPathComponent("cache").path)
        options.outputDirectory = folder.appendingPathComponent("eval-\(UUID().uuidString)").path
        let reports = try InProcessWorld.run(worldSize: worldSize) { communicator in
            try EvaluationSession.run(options, communicator: communicator,
                                      logger: Logger(rank: communicator.rank, worldSize: worldSize, console: console))
        }
        return try XCTUnwrap(reports[0])
    }

    /// Trains STAR for 2 steps on 1 rank, saves a checkpoint, and rewrites its manifest with `edit`.
    func checkpointWithEditedManifest(_ folder: URL, _ edit: (inout [String: Any]) throws -> Void) throws -> URL {
        var config = try starConfig(folder, steps: 2)
        config.train.checkpointEverySteps = 2
        _ = try train(config, worldSize: 1, folder: folder, runName: "run")
        let checkpoint = folder.appendingPathComponent("run/checkpoints/step-2")
        let manifestURL = checkpoint.appendingPathComponent(CheckpointManifest.fileName)
        var manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as? [String: Any])
        try edit(&manifest)
        try JSONSerialization.data(withJSONObject: manifest).write(to: manifestURL)
        return checkpoint
    }

    /// Replaces `buffers.bin` of `checkpoint` with `edit` of its values and updates its checksum in
    /// `manifest`; returns the file's URL.
    func rewriteBuffers(of checkpoint: URL, manifest: inout [String: Any], _ edit: (inout [Float]) -> Void) throws -> URL {
        let url = checkpoint.appendingPathComponent(CheckpointManifest.buffersFileName)
        var values = try Data(contentsOf: url).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        edit(&values)
        let bytes = values.withUnsafeBytes { Data($0) }
        try bytes.write(to: url)
        var hash = FNV1a64()
        bytes.withUnsafeBytes { hash.update($0) }
        var files = try XCTUnwrap(manifest["files"] as? [[String: Any]])
        let index = try XCTUnwrap(files.firstIndex { $0["name"] as? String == CheckpointManifest.buffersFileName })
        files[index]["fnv1a64"] = hash.hexDigest
        files[index]["bytes"] = bytes.count
        manifest["files"] = files
        return url
    }

    func bufferArrays(_ summary: RunSummary) throws -> [(name: String, values: [Float])] {
        try XCTUnwrap(summary.finalParameters).arrays.filter { $0.name.hasPrefix("buffer.") }
    }

    func testBuffersAverageOverRanks() throws {
        let folder = try temporaryDirectory(self)
        let config = try starConfig(folder, steps: 1)
        var options = RunOptions(config: config, configSource: "test", cacheDirectory: folder.appendingPathComponent("cache").path)
        options.runDirectory = nil
        func ownValues(rank: Int, buffer index: Int, count: Int) -> [Float] {
            // The counts buffer (index 2) gets whole numbers, as a count would hold.
            (0..<count).map { index == 2 ? Float(rank * 3 + 10) : Float(rank + 1) * 0.1 + Float(index) + Float($0) / 7 }
        }
        let outcome = try InProcessWorld.run(worldSize: 3) { communicator -> (inside: [[Float]], after: [[Float]]) in
            let logger = Logger(rank: communicator.rank, worldSize: 3, console: DiscardSink())
            let dataset = try TrainingSession.openDataset(options, communicator: communicator, logger: logger)
            let trainer = try Trainer(config: config, dataset: dataset, communicator: communicator)
            let buffers = trainer.model.buffers
            for (index, buffer) in buffers.enumerated() {
                buffer.write(ownValues(rank: communicator.rank, buffer: index, count: buffer.count))
            }
            let inside = try trainer.withAveragedBuffers { buffers.map { $0.read() } }
            return (inside, buffers.map { $0.read() })
        }
        for rank in 0..<3 {
            let expected = outcome[rank].after.indices.map { ownValues(rank: rank, buffer: $0, count: outcome[rank].after[$0].count) }
            XCTAssertEqual(outcome[rank].after, expected, "rank \(rank) continues with its own values")
        }
        let results = outcome.map(\.inside)
        XCTAssertEqual(results[1], results[0], "ranks 0 and 1 agree")
        XCTAssertEqual(results[2], results[0], "ranks 0 and 2 agree")
        let names = ["running.mean", "running.variance", "running.updates"]
        XCTAssertEqual(results[0].count, names.count)
        for (index, values) in results[0].enumerated() {
            for (position, value) in values.enumerated() {
                let perRank = (0..<3).map { Double(ownValues(rank: $0, buffer: index, count: values.count)[position]) }
                let expected = perRank.reduce(0, +) / 3
                XCTAssertEqual(Double(value), expected, accuracy: 1e-6, "\(names[index])[\(position)]")
            }
        }
    }

    func testStarResumeRestoresStatistics() throws {
        let folder = try temporaryDirectory(self)
        var config = try starConfig(folder, steps: 16)
        let uninterrupted = try train(config, worldSize: 2, folder: folder)
        let buffers = try bufferArrays(uninterrupted[0])
        XCTAssertEqual(buffers.map(\.name), ["buffer.norm.running.mean", "buffer.norm.running.variance",
                                             "buffer.norm.running.updates"])
        XCTAssertTrue(buffers[0].values.contains { $0 != 0 }, "the running mean moved from its initial zeros")
        XCTAssertEqual(buffers[2].values, [16], "one update per step")
        XCTAssertEqual(try bufferArrays(uninterrupted[1]).map(\.values), buffers.map(\.values), "both ranks end with the same buffers")

        // Saving and evaluating leave each rank's own statistics as they were.
        config.train.checkpointEverySteps = 8
        let checkpointed = try train(config, worldSize: 2, folder: folder, runName: "first")
        XCTAssertEqual(checkpointed[0].finalParameters, uninterrupted[0].finalParameters, "saving changed the training")

        let middle = folder.appendingPathComponent("first/checkpoints/step-8").path
        let resumed = try train(config, worldSize: 2, folder: folder, runName: "second", resumeFrom: middle)
        XCTAssertEqual(resumed[0].finalParameters, uninterrupted[0].finalParameters, "parameters, tables and buffers")
    }

    func testStarEvalRepeatsRunsEvaluation() throws {
        let folder = try temporaryDirectory(self)
        var config = try starConfig(folder, steps: 10)
        config.train.checkpointEverySteps = 10
        let summary = try train(config, worldSize: 2, folder: folder, runName: "run")
        let expected = try XCTUnwrap(summary[0].evaluation)
        let checkpoint = folder.appendingPathComponent("run").path
        XCTAssertEqual(try evaluate(checkpoint, worldSize: 1, folder: folder), expected, "1 rank")
        XCTAssertEqual(try evaluate(checkpoint, worldSize: 2, folder: folder), expected, "2 ranks")
    }

    /// A checkpoint of the earlier layout contains one copy, the mean over ranks, which every rank loads.
    func testSingleCopyOfEarlierBuildLoads() throws {
        let folder = try temporaryDirectory(self)
        var config = try starConfig(folder, steps: 10)
        config.train.checkpointEverySteps = 10
        let summary = try train(config, worldSize: 2, folder: folder, runName: "run")
        let checkpoint = folder.appendingPathComponent("run/checkpoints/step-10")
        let manifestURL = checkpoint.appendingPathComponent(CheckpointManifest.fileName)
        var manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as? [String: Any])
        _ = try rewriteBuffers(of: checkpoint, manifest: &manifest) { values in
            let half = values.count / 2
            values = (0..<half).map { Float((Double(values[$0]) + Double(values[half + $0])) / 2) }
        }
        try JSONSerialization.data(withJSONObject: manifest).write(to: manifestURL)
        XCTAssertEqual(try evaluate(checkpoint.path, worldSize: 2, folder: folder), try XCTUnwrap(summary[0].evaluation))
    }

    func testCheckpointWithoutBuffersWarns() throws {
        let folder = try temporaryDirectory(self)
        let checkpoint = try checkpointWithEditedManifest(folder) { manifest in
            XCTAssertNotNil(manifest["buffers"])
            manifest["buffers"] = nil
        }

        let log = CapturingSink()
        _ = try evaluate(checkpoint.path, worldSize: 1, folder: folder, console: log)
        let warning = try XCTUnwrap(log.lines.first { $0.contains("has no model buffers") }, log.lines.joined(separator: "\n"))
        XCTAssertTrue(warning.contains("norm.running.mean"), warning)
        XCTAssertTrue(warning.contains("earlier build"), warning)
    }

    func testNonFiniteBufferIsRejected() throws {
        let folder = try temporaryDirectory(self)
        var buffersFile: URL?
        let checkpoint = try checkpointWithEditedManifest(folder) { manifest in
            // The last value is the batch count; NaN there must not reach the model.
            let checkpoint = folder.appendingPathComponent("run/checkpoints/step-2")
            buffersFile = try self.rewriteBuffers(of: checkpoint, manifest: &manifest) { values in
                values[values.count - 1] = .nan
            }
        }

        do {
            _ = try evaluate(checkpoint.path, worldSize: 2, folder: folder)
            XCTFail("expected an error")
        } catch {
            let message = String(describing: error)
            XCTAssertTrue(message.contains(try XCTUnwrap(buffersFile).path), message)
            XCTAssertTrue(message.contains("norm.running.updates of rank 0"), message)
            XCTAssertTrue(message.contains("not finite"), message)
        }
    }

    func testMismatchedBuffersAreRejected() throws {
        let folder = try temporaryDirectory(self)
        let checkpoint = try checkpointWithEditedManifest(folder) { manifest in
            var buffers = try XCTUnwrap(manifest["buffers"] as? [[String: Any]])
            buffers[0]["name"] = "norm.running.median"
            manifest["buffers"] = buffers
        }
        let manifestURL = checkpoint.appendingPathComponent(CheckpointManifest.fileName)

        do {
            _ = try evaluate(checkpoint.path, worldSize: 1, folder: folder)
            XCTFail("expected an error")
        } catch {
            let message = String(describing: error)
            XCTAssertTrue(message.contains("the list of model buffers"), message)
            XCTAssertTrue(message.contains("norm.running.median"), message)
            XCTAssertTrue(message.contains(manifestURL.path), message)
        }
    }
}

/// A log sink that keeps every line, for tests that check a warning.
final class CapturingSink: LogSink, @unchecked Sendable {  // Every access takes `lock`.
    private let lock = NSLock()
    private var stored: [String] = []

    func write(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        stored.append(text)
    }

    var lines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
}
