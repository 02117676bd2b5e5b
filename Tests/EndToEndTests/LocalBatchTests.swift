import DataPipeline
@testable import Training
import XCTest

/// The gathered batch against an element-by-element copy through the plan's permutation.
final class LocalBatchTests: XCTestCase {
    func testGatherMatchesRowByRowCopy() throws {
        let folder = try temporaryDirectory(self)
        let config = try syntheticConfig(directory: folder, rows: 600, batchSize: 100, maxSteps: nil)
        let path = try DataPreparation.prepare(config: config.data, dataDirectory: nil,
                                               cacheDirectory: folder.appendingPathComponent("cache").path).path
        let split = try PreparedDataset.open(path: path).train
        XCTAssertGreaterThan(split.taskCount, 1)

        for (worldSize, rank, taskCount) in [(1, 0, split.taskCount), (3, 2, 1), (3, 1, split.taskCount)] {
            let plan = EpochPlan(epoch: 1, rowCount: split.count, globalBatchSize: 100, worldSize: worldSize,
                                 rank: rank, seed: 7)
            let step = 2
            let global = plan.globalRange(step: step)
            let local = plan.localRange(step: step)
            let batch = LocalBatch(split: split, permutation: plan.permutation, positions: local,
                                   globalStart: global.lowerBound, taskCount: taskCount, seed: 7, globalStep: 11)
            let label = "world \(worldSize) rank \(rank) tasks \(taskCount)"

            var ids: [Int32] = []
            var labels: [Float] = []
            var scenes: [Int32] = []
            var rowSeeds: [UInt64] = []
            for position in local {
                let source = plan.permutation[position]
                ids += Array(split.featureRow(source))
                labels += Array(split.labelRow(source).prefix(taskCount))
                scenes.append(split.scenes[source])
                rowSeeds.append(mixSeed(7, 0x44524F50, 11, UInt64(position - global.lowerBound)))
            }
            XCTAssertEqual(batch.rowCount, local.count, label)
            XCTAssertEqual(batch.ids, ids, label)
            XCTAssertEqual(batch.labels, labels, label)
            XCTAssertEqual(batch.scenes, scenes, label)
            XCTAssertEqual(batch.rowSeeds, rowSeeds, label)
        }
    }

    func testEmptySlice() throws {
        let folder = try temporaryDirectory(self)
        let config = try syntheticConfig(directory: folder, rows: 200, batchSize: 50, maxSteps: nil)
        let path = try DataPreparation.prepare(config: config.data, dataDirectory: nil,
                                               cacheDirectory: folder.appendingPathComponent("cache").path).path
        let split = try PreparedDataset.open(path: path).train
        let plan = EpochPlan(epoch: 0, rowCount: split.count, globalBatchSize: 50, worldSize: 1, rank: 0, seed: 1)
        let batch = LocalBatch(split: split, permutation: plan.permutation, positions: 10..<10, globalStart: 0,
                               taskCount: 1, seed: 1, globalStep: 0)
        XCTAssertEqual(batch.rowCount, 0)
        XCTAssertTrue(batch.ids.isEmpty)
        XCTAssertTrue(batch.labels.isEmpty)
    }
}
