import Communication
import DataPipeline
import Foundation
import Training
import XCTest

/// Reducing dense buckets on a second thread during backward (`train.overlapAllreduce`) must
/// train bit for bit the model that reducing them after backward trains.
final class OverlapAllreduceTests: XCTestCase {
    /// 4 KiB buckets cut the test model's dense gradients into several buckets, so backward
    /// releases them one by one while it runs.
    static let smallBucketBytes = 4096

    func config(_ folder: URL, overlap: Bool, layout: String = "rowSharded") throws -> TrainerConfig {
        var config = try syntheticConfig(directory: folder.appendingPathComponent("data"), rows: 6_000,
                                         batchSize: 250, maxSteps: 15, epochs: 1)
        config.train.allreduceBucketBytes = Self.smallBucketBytes
        config.train.overlapAllreduce = overlap
        config.train.embeddingLayout = layout
        return config
    }

    func runInProcess(_ config: TrainerConfig, worldSize: Int, cache: URL) throws -> RunSummary {
        var options = RunOptions(config: config, configSource: "test", cacheDirectory: cache.path)
        options.keepFinalParameters = true
        options.checkEverySteps = 5
        let summaries = try InProcessWorld.run(worldSize: worldSize) { communicator in
            try TrainingSession.run(options, communicator: communicator,
                                    logger: Logger(rank: communicator.rank, worldSize: worldSize, console: DiscardSink()))
        }
        return summaries[0]
    }

    func assertOverlapMatchesSequential(worldSize: Int, layout: String = "rowSharded",
                                        file: StaticString = #filePath, line: UInt = #line) throws {
        let folder = try temporaryDirectory(self)
        let cache = folder.appendingPathComponent("cache")
        let sequential = try runInProcess(try config(folder, overlap: false, layout: layout), worldSize: worldSize, cache: cache)
        let overlapped = try runInProcess(try config(folder, overlap: true, layout: layout), worldSize: worldSize, cache: cache)

        XCTAssertEqual(overlapped.stepLosses.count, 15, file: file, line: line)
        XCTAssertEqual(overlapped.stepLosses, sequential.stepLosses, "step losses", file: file, line: line)
        let difference = maxAbsoluteDifference(try XCTUnwrap(overlapped.finalParameters),
                                               try XCTUnwrap(sequential.finalParameters))
        XCTAssertEqual(difference.value, 0, "largest difference in \(difference.array)", file: file, line: line)
    }

    func testTwoRanksMatchSequential() throws {
        try assertOverlapMatchesSequential(worldSize: 2)
    }

    func testThreeRanksMatchSequential() throws {
        // With three ranks the ring's order of additions depends on the bucket boundaries, so
        // this also checks that both schedules cut the gradients at the same places.
        try assertOverlapMatchesSequential(worldSize: 3)
    }

    func testReplicatedTablesMatchSequential() throws {
        // The table gradients travel in the final bucket, after the dense buckets.
        try assertOverlapMatchesSequential(worldSize: 3, layout: "replicated")
    }

    func testTrainerUsesWorkerThread() throws {
        let folder = try temporaryDirectory(self)
        let config = try config(folder, overlap: true)
        let path = try DataPreparation.prepare(config: config.data, dataDirectory: nil,
                                               cacheDirectory: folder.appendingPathComponent("cache").path).path
        let dataset = try PreparedDataset.open(path: path)
        for worldSize in [1, 2] {
            let outcomes = try InProcessWorld.run(worldSize: worldSize) { communicator -> (Bool, String?, Double) in
                let trainer = try Trainer(config: config, dataset: dataset, communicator: communicator)
                let plan = trainer.plan(epoch: 0)
                for step in 0..<3 {
                    try trainer.trainStep(plan: plan, step: step)
                }
                return (trainer.overlapsAllreduce, trainer.overlapFallbackReason, trainer.communicationThreadBusySeconds)
            }
            for (rank, outcome) in outcomes.enumerated() {
                // One rank has no peer to exchange with, so it needs no worker.
                XCTAssertEqual(outcome.0, worldSize > 1, "W=\(worldSize) rank \(rank) overlaps")
                XCTAssertNil(outcome.1, "W=\(worldSize) rank \(rank) fallback reason")
                if worldSize > 1 {
                    XCTAssertGreaterThan(outcome.2, 0, "W=\(worldSize) rank \(rank) worker busy seconds")
                } else {
                    XCTAssertEqual(outcome.2, 0, "W=\(worldSize) rank \(rank) worker busy seconds")
                }
            }
        }
    }

    func testMPIRunMatchesSequentialInProcess() throws {
        let folder = try temporaryDirectory(self)
        let cache = folder.appendingPathComponent("cache")
        let sequential = try XCTUnwrap(try runInProcess(try config(folder, overlap: false), worldSize: 2, cache: cache)
            .finalParameters)

        let configFile = folder.appendingPathComponent("overlap.json")
        try config(folder, overlap: true).encodedJSON().write(to: configFile)
        let dumpFile = folder.appendingPathComponent("overlap.dump")
        let result = try runTrainer(ranks: 2, ["train", "--config", configFile.path, "--cache-dir", cache.path,
                                               "--run-dir", folder.appendingPathComponent("run").path,
                                               "--dump-parameters", dumpFile.path])
        XCTAssertEqual(result.exitCode, 0, result.output)
        XCTAssertFalse(result.output.contains("MPI_THREAD_SERIALIZED"), "mpirun fell back: \(result.output)")
        let fromMPI = try ParameterDump.read(from: dumpFile.path)
        XCTAssertEqual(fromMPI.stepLosses, sequential.stepLosses)
        let difference = maxAbsoluteDifference(fromMPI, sequential)
        XCTAssertEqual(difference.value, 0, "largest difference in \(difference.array)")
    }
}
