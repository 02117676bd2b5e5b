import Communication
import Models
import TensorCore
import Training
import XCTest

/// Row-sharded tables on W in-process ranks against one replicated table fed every rank's batch:
/// lookups must return the same rows, and after one update every row must equal the replicated
/// row updated with the gradient averaged over ranks.
final class RowShardedEmbeddingTablesTests: XCTestCase {
    let layout = FeatureLayout(names: ["user", "item"], widths: [3, 2])
    let rows = [10, 7]

    /// One rank's batch: ids `[B, 2]` and the gradient of its input `[B, 5]`.
    struct RankBatch {
        let ids: [Int32]
        let gradient: [Float]
        var rowCount: Int { ids.count / 2 }
    }

    func batch(_ pairs: [(Int32, Int32)], seed: UInt64) -> RankBatch {
        var generator = RandomGenerator(seed: seed)
        return RankBatch(ids: pairs.flatMap { [$0.0, $0.1] },
                         gradient: (0..<(pairs.count * 5)).map { _ in generator.nextUniform(low: -1, high: 1) })
    }

    func makeOptimizer() -> SparseRowOptimizer { LazyAdam(learningRate: 0.1) }

    /// Runs one step on W sharded ranks; returns rank 0's gathered tables and each rank's lookup.
    func shardedStep(_ batches: [RankBatch]) throws -> (tables: [[Float]], lookups: [[Float]]) {
        let results = try InProcessWorld.run(worldSize: batches.count) { communicator -> ([[Float]], [Float]) in
            let tables = RowShardedEmbeddingTables(layout: self.layout, rowCounts: self.rows, optimizer: self.makeOptimizer(),
                                                   initialState: 0, seed: 5, communicator: communicator)
            let mine = batches[communicator.rank]
            let looked = try tables.lookup(ids: mine.ids, rowCount: mine.rowCount)
            tables.accumulateGradient(ids: mine.ids, rowCount: mine.rowCount,
                                      inputGradient: Tensor(shape: [mine.rowCount, 5], scalars: mine.gradient))
            try tables.applyUpdate()
            let gathered = try (0..<2).map { try tables.gatherTable($0, root: 0) ?? [] }
            return (gathered, looked.scalars)
        }
        return (results[0].0, results.map(\.1))
    }

    /// The same step on one replicated table that sees every rank's rows, with each gradient
    /// divided by W as the average over ranks does.
    func replicatedStep(_ batches: [RankBatch]) throws -> (tables: [[Float]], lookups: [[Float]]) {
        let tables = ReplicatedEmbeddingTables(layout: layout, rowCounts: rows, optimizer: makeOptimizer(),
                                               initialState: 0, seed: 5)
        let lookups = try batches.map { try tables.lookup(ids: $0.ids, rowCount: $0.rowCount).scalars }
        let scale = 1 / Float(batches.count)
        for batch in batches {
            tables.accumulateGradient(ids: batch.ids, rowCount: batch.rowCount,
                                      inputGradient: Tensor(shape: [batch.rowCount, 5], scalars: batch.gradient.map { $0 * scale }))
        }
        try tables.applyUpdate()
        return (tables.tables.map(\.weights), lookups)
    }

    func assertMatchesReplicated(_ batches: [RankBatch], file: StaticString = #filePath, line: UInt = #line) throws {
        let sharded = try shardedStep(batches)
        let replicated = try replicatedStep(batches)
        XCTAssertEqual(sharded.lookups, replicated.lookups, "lookups", file: file, line: line)
        for feature in 0..<2 {
            XCTAssertEqual(sharded.tables[feature].count, replicated.tables[feature].count, file: file, line: line)
            for (index, (a, b)) in zip(sharded.tables[feature], replicated.tables[feature]).enumerated() {
                XCTAssertEqual(a, b, accuracy: 1e-6, "feature \(feature) element \(index)", file: file, line: line)
            }
        }
    }

    func testIdsNoTwoRanksShare() throws {
        try assertMatchesReplicated([batch([(1, 2), (3, 4)], seed: 1), batch([(5, 6), (7, 0)], seed: 2),
                                     batch([(8, 1), (9, 3)], seed: 3)])
    }

    func testIdsEveryRankShares() throws {
        try assertMatchesReplicated((0..<4).map { batch([(2, 5), (6, 5), (2, 1)], seed: UInt64($0 + 10)) })
    }

    func testSingleDistinctId() throws {
        try assertMatchesReplicated((0..<3).map { batch([(4, 4), (4, 4), (4, 4)], seed: UInt64($0 + 20)) })
    }

    func testRankWithEmptyBatch() throws {
        try assertMatchesReplicated([batch([(1, 1), (2, 2)], seed: 30), batch([], seed: 31), batch([(3, 6)], seed: 32)])
    }

    func testMissingAndUnseenIdsShareRowZero() throws {
        // Encoders map missing and out-of-vocabulary values to row 0, so many rows of every rank use it.
        try assertMatchesReplicated([batch([(0, 0), (0, 3), (5, 0)], seed: 40), batch([(0, 0), (9, 0)], seed: 41)])
    }

    func testHashCollisionsUpdateOneRowOnce() throws {
        // Two raw values hashed to the same row arrive as the same id within a batch and across ranks.
        try assertMatchesReplicated([batch([(7, 2), (7, 2), (7, 6)], seed: 50), batch([(7, 2), (1, 6)], seed: 51)])
    }

    func testOneRankEqualsReplicated() throws {
        try assertMatchesReplicated([batch([(1, 2), (1, 3), (9, 6), (0, 0)], seed: 60)])
    }

    func testPlanAssignsEveryRowToOneRank() {
        for worldSize in 1...5 {
            let plan = RowShardingPlan(worldSize: worldSize)
            for rows in [0, 1, 4, 5, 11] {
                let counts = (0..<worldSize).map { plan.localRowCount(rows: rows, rank: $0) }
                XCTAssertEqual(counts.reduce(0, +), rows, "W \(worldSize) rows \(rows)")
                for row in 0..<rows {
                    let owner = plan.owner(of: row)
                    XCTAssertEqual(plan.globalRow(localIndex: plan.localIndex(of: row), rank: owner), row)
                    XCTAssertLessThan(plan.localIndex(of: row), counts[owner])
                }
            }
        }
    }
}
