import Models
import TensorCore
import Training
import XCTest

final class EmbeddingTablesTests: XCTestCase {
    func makeTables() -> ReplicatedEmbeddingTables {
        let layout = FeatureLayout(names: ["user", "item"], widths: [2, 3])
        return ReplicatedEmbeddingTables(layout: layout, rowCounts: [4, 5], optimizer: RowWiseAdagrad(learningRate: 0.5),
                                         initialState: 0.1, seed: 7)
    }

    func testLookupConcatenatesRowsInFeatureOrder() throws {
        let tables = makeTables()
        // Two rows: (user 3, item 0) and (user 1, item 4).
        let output = try tables.lookup(ids: [3, 0, 1, 4], rowCount: 2)
        XCTAssertEqual(output.shape, [2, 5])
        let user = tables.tables[0].weights
        let item = tables.tables[1].weights
        XCTAssertEqual(Array(output.scalars[0..<5]), Array(user[6..<8]) + Array(item[0..<3]))
        XCTAssertEqual(Array(output.scalars[5..<10]), Array(user[2..<4]) + Array(item[12..<15]))
    }

    func testGradientOfRepeatedIdAccumulatesAndOnlyTouchedRowsMove() throws {
        let tables = makeTables()
        let before = tables.tables.map(\.weights)
        // User 2 appears in both rows; item rows 1 and 3 once each.
        let gradient = Tensor(shape: [2, 5], scalars: [1, 2, 0.5, 0.5, 0.5, 3, 4, -1, -1, -1])
        tables.accumulateGradient(ids: [2, 1, 2, 3], rowCount: 2, inputGradient: gradient)
        XCTAssertEqual(Array(tables.tables[0].gradient[4..<6]), [4, 6])
        XCTAssertEqual(tables.tables[0].touchCounts, [0, 0, 2, 0])
        try tables.applyUpdate()

        let user = tables.tables[0].weights
        XCTAssertEqual(Array(user[0..<4]), Array(before[0][0..<4]))
        XCTAssertEqual(Array(user[6..<8]), Array(before[0][6..<8]))
        // Row-wise Adagrad: accumulator 0.1 + mean(g²) = 0.1 + (16 + 36) / 2 = 26.1.
        let scale = 0.5 / (Float(26.1).squareRoot() + 1e-7)
        XCTAssertEqual(user[4], before[0][4] - scale * 4, accuracy: 1e-6)
        XCTAssertEqual(user[5], before[0][5] - scale * 6, accuracy: 1e-6)
        let item = tables.tables[1].weights
        XCTAssertEqual(Array(item[0..<3]), Array(before[1][0..<3]))
        XCTAssertNotEqual(Array(item[3..<6]), Array(before[1][3..<6]))
        XCTAssertEqual(tables.tables[0].touchCounts, [0, 0, 0, 0], "counts are cleared after the update")
        XCTAssertEqual(tables.tables[0].gradient, Array(repeating: 0, count: 8), "gradients are cleared after the update")
    }
}
