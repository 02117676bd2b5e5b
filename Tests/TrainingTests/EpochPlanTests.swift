@testable import Training
import XCTest

final class EpochPlanTests: XCTestCase {
    func testShardRangesCoverEveryItemOnce() {
        for count in [0, 1, 2, 5, 7, 250, 1024] {
            for parts in 1...6 {
                let ranges = (0..<parts).map { shardRange(count: count, parts: parts, index: $0) }
                XCTAssertEqual(ranges.first?.lowerBound, 0, "count \(count) parts \(parts)")
                XCTAssertEqual(ranges.last?.upperBound, count, "count \(count) parts \(parts)")
                for (left, right) in zip(ranges, ranges.dropFirst()) {
                    XCTAssertEqual(left.upperBound, right.lowerBound, "count \(count) parts \(parts)")
                }
                let sizes = ranges.map(\.count)
                XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1, "count \(count) parts \(parts)")
            }
        }
    }

    func testEveryRowTrainedOncePerEpochForAnyWorldSize() {
        for worldSize in 1...5 {
            var seen = [Int](repeating: 0, count: 1_003)
            for rank in 0..<worldSize {
                let plan = EpochPlan(epoch: 2, rowCount: 1_003, globalBatchSize: 100, worldSize: worldSize, rank: rank, seed: 9)
                XCTAssertEqual(plan.stepCount, 11)
                for step in 0..<plan.stepCount {
                    for position in plan.localRange(step: step) { seen[plan.permutation[position]] += 1 }
                }
            }
            XCTAssertEqual(seen, Array(repeating: 1, count: 1_003), "world size \(worldSize)")
        }
    }

    func testGlobalBatchDoesNotDependOnWorldSize() {
        let one = EpochPlan(epoch: 0, rowCount: 500, globalBatchSize: 64, worldSize: 1, rank: 0, seed: 4)
        let three = EpochPlan(epoch: 0, rowCount: 500, globalBatchSize: 64, worldSize: 3, rank: 2, seed: 4)
        XCTAssertEqual(one.permutation, three.permutation)
        for step in 0..<one.stepCount {
            XCTAssertEqual(one.globalRange(step: step), three.globalRange(step: step))
        }
    }

    func testEpochsShuffleDifferently() {
        let first = EpochPlan(epoch: 0, rowCount: 200, globalBatchSize: 10, worldSize: 1, rank: 0, seed: 4)
        let second = EpochPlan(epoch: 1, rowCount: 200, globalBatchSize: 10, worldSize: 1, rank: 0, seed: 4)
        XCTAssertNotEqual(first.permutation, second.permutation)
        XCTAssertEqual(first.permutation.sorted(), Array(0..<200))
    }

    func testLastBatchSmallerThanWorldLeavesEmptySlices() {
        // 203 rows in batches of 100: the last batch has 3 rows for 5 ranks.
        let slices = (0..<5).map { EpochPlan(epoch: 0, rowCount: 203, globalBatchSize: 100, worldSize: 5, rank: $0, seed: 1).localRange(step: 2).count }
        XCTAssertEqual(slices, [1, 1, 1, 0, 0])
    }

    func testSeedMixerMatchesMixSeed() {
        let values: [UInt64] = [0, 1, 0x44524F50, .max, 12_345_678_901]
        XCTAssertEqual(SeedMixer().seed, mixSeed())
        // Values of the SplitMix64 steps computed independently in Python with 64-bit wrapping.
        XCTAssertEqual(mixSeed(1), 0x63CF_C62A_2B09_7592)
        XCTAssertEqual(mixSeed(1, 0x44524F50, 3, 5), 0xD1C2_9C02_8EC7_7690)
        for first in values {
            for second in values {
                let mixed = SeedMixer().mixing(first).mixing(second)
                XCTAssertEqual(mixed.seed, mixSeed(first, second), "\(first), \(second)")
                XCTAssertEqual(mixed.mixing(7).seed, mixSeed(first, second, 7), "\(first), \(second), 7")
            }
        }
    }
}

/// The progress meter's position in the epoch, with batches skipped for a NaN.
final class ProgressMeterTests: XCTestCase {
    func testSkippedBatchesCountTowardPosition() {
        let plan = EpochPlan(epoch: 0, rowCount: 250, globalBatchSize: 100, worldSize: 1, rank: 0, seed: 4)
        var meter = ProgressMeter(epoch: 0, epochCount: 1, plan: plan, taskNames: ["click"])
        meter.record(StepLoss(step: 0, rows: 100, taskLosses: [0.5]))
        meter.record(StepLoss(step: 1, rows: 0, taskLosses: [.nan], skipReason: "NaN"))
        let line = meter.line()
        XCTAssertEqual(line.step, 2)
        XCTAssertEqual(line.rowsDone, 200, "the skipped batch's rows are passed over, too")
        XCTAssertEqual(line.losses, [0.5], "the skipped batch adds no loss")
        meter.record(StepLoss(step: 2, rows: 50, taskLosses: [0.25]))
        XCTAssertEqual(meter.line().rowsDone, 250, "the last, partial batch")
    }
}
