import Communication
import Foundation
import TensorCore
import Training
import XCTest

/// Runs with the same seed and global batch must train the same model whatever the world size:
/// W in-process ranks against one rank within float rounding, and mpirun against in-process ranks
/// bit for bit.
final class DistributedEquivalenceTests: XCTestCase {
    func runInProcess(_ config: TrainerConfig, worldSize: Int, cache: URL) throws -> RunSummary {
        var options = RunOptions(config: config, configSource: "test", cacheDirectory: cache.path)
        options.keepFinalParameters = true
        options.checkEverySteps = 50
        let summaries = try InProcessWorld.run(worldSize: worldSize) { communicator in
            try TrainingSession.run(options, communicator: communicator,
                                    logger: Logger(rank: communicator.rank, worldSize: worldSize, console: DiscardSink()))
        }
        return summaries[0]
    }

    func assertMatchesOneRank(worldSize: Int, rows: Int, batchSize: Int, steps: Int, epochs: Int) throws {
        let folder = try temporaryDirectory(self)
        let config = try syntheticConfig(directory: folder.appendingPathComponent("data"), rows: rows,
                                         batchSize: batchSize, maxSteps: steps, epochs: epochs)
        let cache = folder.appendingPathComponent("cache")
        let single = try runInProcess(config, worldSize: 1, cache: cache)
        let several = try runInProcess(config, worldSize: worldSize, cache: cache)

        XCTAssertEqual(single.stepLosses.count, steps)
        XCTAssertEqual(several.stepLosses.count, steps)
        for (a, b) in zip(single.stepLosses, several.stepLosses) {
            XCTAssertEqual(a.rows, b.rows, "step \(a.step)")
            for (x, y) in zip(a.taskLosses, b.taskLosses) {
                XCTAssertEqual(x, y, accuracy: 1e-5, "loss at step \(a.step)")
            }
        }
        let difference = maxAbsoluteDifference(try XCTUnwrap(single.finalParameters), try XCTUnwrap(several.finalParameters))
        XCTAssertLessThan(difference.value, 1e-5, "largest difference in \(difference.array)")
        XCTAssertEqual(several.rowsPerRank.reduce(0, +), single.rowsPerRank.reduce(0, +))
    }

    func testFourRanksMatchOneRankAfter200Steps() throws {
        try assertMatchesOneRank(worldSize: 4, rows: 24_000, batchSize: 256, steps: 200, epochs: 3)
    }

    func testThreeRanksWithUnevenSlicesMatchOneRank() throws {
        // 250 rows split 84/83/83, and each epoch ends in a short batch.
        try assertMatchesOneRank(worldSize: 3, rows: 6_000, batchSize: 250, steps: 60, epochs: 3)
    }

    func testMoreRanksThanRowsInLastBatch() throws {
        // Train rows modulo the batch leaves a final batch of fewer rows than ranks, so some ranks
        // have empty slices: the run must finish and train every row exactly once per epoch.
        let folder = try temporaryDirectory(self)
        var config = try syntheticConfig(directory: folder.appendingPathComponent("data"), rows: 700,
                                         batchSize: 64, maxSteps: nil, epochs: 1)
        let cache = folder.appendingPathComponent("cache")
        let single = try runInProcess(config, worldSize: 1, cache: cache)
        let trainRows = single.rowsPerRank[0]
        // Two steps: a full batch, then 3 rows for 5 ranks.
        config.train.batchSize = trainRows - 3
        let five = try runInProcess(config, worldSize: 5, cache: cache)
        XCTAssertEqual(five.rowsPerRank.reduce(0, +), trainRows)
        XCTAssertEqual(five.stepLosses.last?.rows, 3)
        XCTAssertEqual(five.evaluation?.rows, single.evaluation?.rows)
    }

    /// Kernels split their work over threads without changing any element's arithmetic, so
    /// two threads train the same model bit for bit.
    func testTwoThreadsMatchOneThreadExactly() throws {
        let folder = try temporaryDirectory(self)
        var config = try syntheticConfig(directory: folder.appendingPathComponent("data"), rows: 12_000,
                                         batchSize: 1024, maxSteps: 12, epochs: 2)
        let cache = folder.appendingPathComponent("cache")
        let one = try runInProcess(config, worldSize: 1, cache: cache)
        config.train.threads = 2
        let two = try runInProcess(config, worldSize: 1, cache: cache)
        defer { ComputeThreads.configure(threads: 1) }

        for (a, b) in zip(one.stepLosses, two.stepLosses) {
            XCTAssertEqual(a.taskLosses, b.taskLosses, "losses at step \(a.step)")
        }
        let difference = maxAbsoluteDifference(try XCTUnwrap(one.finalParameters), try XCTUnwrap(two.finalParameters))
        XCTAssertEqual(difference.value, 0, "largest difference in \(difference.array)")
    }

    func testShardedTablesOnFourRanksMatchReplicatedOnOneRank() throws {
        let folder = try temporaryDirectory(self)
        var replicated = try syntheticConfig(directory: folder.appendingPathComponent("data"), rows: 12_000,
                                             batchSize: 256, maxSteps: 50, epochs: 2)
        replicated.train.embeddingLayout = "replicated"
        var sharded = replicated
        sharded.train.embeddingLayout = "rowSharded"
        let cache = folder.appendingPathComponent("cache")
        let reference = try XCTUnwrap(try runInProcess(replicated, worldSize: 1, cache: cache).finalParameters)
        let inProcess = try XCTUnwrap(try runInProcess(sharded, worldSize: 4, cache: cache).finalParameters)
        let inProcessDifference = maxAbsoluteDifference(reference, inProcess)
        XCTAssertLessThan(inProcessDifference.value, 1e-5, "in-process: largest difference in \(inProcessDifference.array)")

        let configFile = folder.appendingPathComponent("sharded.json")
        try sharded.encodedJSON().write(to: configFile)
        let dumpFile = folder.appendingPathComponent("sharded.dump")
        let result = try runTrainer(ranks: 4, ["train", "--config", configFile.path, "--cache-dir", cache.path,
                                               "--run-dir", folder.appendingPathComponent("run").path,
                                               "--dump-parameters", dumpFile.path])
        XCTAssertEqual(result.exitCode, 0, result.output)
        XCTAssertTrue(result.output.contains("embedding rows and bytes per rank"), result.output)
        let fromMPI = try ParameterDump.read(from: dumpFile.path)
        let mpiDifference = maxAbsoluteDifference(reference, fromMPI)
        XCTAssertLessThan(mpiDifference.value, 1e-5, "mpirun: largest difference in \(mpiDifference.array)")
        XCTAssertEqual(maxAbsoluteDifference(inProcess, fromMPI).value, 0, "mpirun and in-process ranks differ")
    }

    func testMPIRunMatchesInProcessRanksBitForBit() throws {
        let folder = try temporaryDirectory(self)
        let config = try syntheticConfig(directory: folder.appendingPathComponent("data"), rows: 12_000,
                                         batchSize: 256, maxSteps: 80, epochs: 2)
        let configFile = folder.appendingPathComponent("config.json")
        try config.encodedJSON().write(to: configFile)
        let cache = folder.appendingPathComponent("cache")
        let inProcess = try XCTUnwrap(try runInProcess(config, worldSize: 4, cache: cache).finalParameters)

        let dumpFile = folder.appendingPathComponent("mpirun.dump")
        let result = try runTrainer(ranks: 4, ["train", "--config", configFile.path, "--cache-dir", cache.path,
                                               "--run-dir", folder.appendingPathComponent("run").path,
                                               "--dump-parameters", dumpFile.path])
        XCTAssertEqual(result.exitCode, 0, result.output)
        let fromMPI = try ParameterDump.read(from: dumpFile.path)
        XCTAssertEqual(fromMPI.stepLosses, inProcess.stepLosses)
        XCTAssertEqual(fromMPI.arrays.map(\.name), inProcess.arrays.map(\.name))
        let difference = maxAbsoluteDifference(fromMPI, inProcess)
        XCTAssertEqual(difference.value, 0, "largest difference in \(difference.array)")
    }
}
