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

    // MARK: - Bit-exact steps

    /// A layout with a row of one whole SIMD8 vector, a row shorter than a vector, a row of a
    /// vector and one more float, and a table large enough to be hashed instead of slotted.
    let exactLayout = FeatureLayout(names: ["user", "item", "tag", "query"], widths: [8, 3, 9, 2])
    let exactRows = [10, 70_000, 5, 7]

    /// `[steps][W]` batches of random sizes (some empty) with ids repeated within and across ranks.
    func exactBatches(steps: Int, worldSize: Int, seed: UInt64) -> [[(ids: [Int32], gradient: [Float])]] {
        var generator = RandomGenerator(seed: seed)
        let width = exactLayout.totalWidth
        let largeIds = [0, 1, 2, 65_535, 65_536, 65_537, 69_999]
        return (0..<steps).map { _ in
            (0..<worldSize).map { _ in
                let rowCount = generator.nextInt(below: 7)
                var ids: [Int32] = []
                for _ in 0..<rowCount {
                    for feature in 0..<exactRows.count {
                        let id = feature == 1 ? largeIds[generator.nextInt(below: largeIds.count)]
                            : generator.nextInt(below: exactRows[feature])
                        ids.append(Int32(id))
                    }
                }
                let gradient = (0..<(rowCount * width)).map { _ in generator.nextUniform(low: -1, high: 1) }
                return (ids, gradient)
            }
        }
    }

    /// Returns the expected lookups `[steps][W]` and final tables of the sharded layout, computed
    /// row by row: each rank sums a row's gradient over its positions in row order starting from zero,
    /// the owner adds the ranks' sums in rank order, scales by 1/W and calls `updateRow` once.
    func exactReference(_ batches: [[(ids: [Int32], gradient: [Float])]],
                        worldSize: Int) throws -> (lookups: [[[Float]]], tables: [[Float]]) {
        let replicated = ReplicatedEmbeddingTables(layout: exactLayout, rowCounts: exactRows,
                                                   optimizer: makeOptimizer(), initialState: 0, seed: 5)
        var tables = replicated.tables.map(\.weights)
        let widths = exactLayout.widths
        var states = zip(exactRows, widths).map { [Float](repeating: 0, count: $0 * 2 * $1) }
        let optimizer = makeOptimizer()
        let featureCount = widths.count
        var lookups: [[[Float]]] = []
        for step in batches {
            lookups.append(step.map { batch in
                let rowCount = batch.ids.count / featureCount
                var output: [Float] = []
                for row in 0..<rowCount {
                    for feature in 0..<featureCount {
                        let id = Int(batch.ids[row * featureCount + feature])
                        output += tables[feature][(id * widths[feature])..<((id + 1) * widths[feature])]
                    }
                }
                return output
            })

            var totals: [[Int]: [Float]] = [:]
            for batch in step {
                var rankSums: [[Int]: [Float]] = [:]
                let rowCount = batch.ids.count / featureCount
                for row in 0..<rowCount {
                    for feature in 0..<featureCount {
                        let key = [feature, Int(batch.ids[row * featureCount + feature])]
                        var sum = rankSums[key] ?? [Float](repeating: 0, count: widths[feature])
                        for k in 0..<widths[feature] {
                            sum[k] += batch.gradient[row * exactLayout.totalWidth + exactLayout.offsets[feature] + k]
                        }
                        rankSums[key] = sum
                    }
                }
                for (key, sum) in rankSums {
                    if var total = totals[key] {
                        for k in total.indices { total[k] += sum[k] }
                        totals[key] = total
                    } else {
                        totals[key] = sum
                    }
                }
            }
            optimizer.beginStep()
            let scale = 1 / Float(worldSize)
            for (key, total) in totals {
                let (feature, id) = (key[0], key[1])
                let dimension = widths[feature]
                let gradient = total.map { $0 * scale }
                tables[feature].withUnsafeMutableBufferPointer { weights in
                    states[feature].withUnsafeMutableBufferPointer { state in
                        optimizer.updateRow(weights: weights.baseAddress! + id * dimension,
                                            state: state.baseAddress! + id * 2 * dimension,
                                            gradient: gradient, dimension: dimension)
                    }
                }
            }
        }
        return (lookups, tables)
    }

    func assertExactSteps(worldSize: Int, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) throws {
        let batches = exactBatches(steps: 4, worldSize: worldSize, seed: seed)
        let expected = try exactReference(batches, worldSize: worldSize)
        let results = try InProcessWorld.run(worldSize: worldSize) { communicator -> ([[Float]], [[Float]]) in
            let tables = RowShardedEmbeddingTables(layout: self.exactLayout, rowCounts: self.exactRows,
                                                   optimizer: self.makeOptimizer(), initialState: 0, seed: 5,
                                                   communicator: communicator)
            var lookups: [[Float]] = []
            for step in batches {
                let mine = step[communicator.rank]
                let rowCount = mine.ids.count / self.exactRows.count
                lookups.append(try tables.lookup(ids: mine.ids, rowCount: rowCount).scalars)
                tables.accumulateGradient(ids: mine.ids, rowCount: rowCount,
                                          inputGradient: Tensor(shape: [rowCount, self.exactLayout.totalWidth],
                                                                scalars: mine.gradient))
                try tables.applyUpdate()
            }
            let gathered = try (0..<self.exactRows.count).map { try tables.gatherTable($0, root: 0) ?? [] }
            return (gathered, lookups)
        }
        for step in batches.indices {
            for rank in 0..<worldSize {
                XCTAssertEqual(results[rank].1[step].map(\.bitPattern), expected.lookups[step][rank].map(\.bitPattern),
                               "W \(worldSize) seed \(seed) step \(step) rank \(rank) lookup", file: file, line: line)
            }
        }
        for feature in exactRows.indices {
            let mismatches = zip(results[0].0[feature], expected.tables[feature]).filter { $0.bitPattern != $1.bitPattern }
            XCTAssertEqual(results[0].0[feature].count, expected.tables[feature].count, file: file, line: line)
            XCTAssertEqual(mismatches.count, 0, "W \(worldSize) seed \(seed) feature \(feature)", file: file, line: line)
        }
    }

    func testStepsBitExactOneRank() throws {
        try assertExactSteps(worldSize: 1, seed: 70)
    }

    func testStepsBitExactTwoRanks() throws {
        try assertExactSteps(worldSize: 2, seed: 71)
        try assertExactSteps(worldSize: 2, seed: 72)
    }

    func testStepsBitExactThreeRanks() throws {
        try assertExactSteps(worldSize: 3, seed: 73)
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
