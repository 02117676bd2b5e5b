import XCTest
@testable import TensorCore

final class ColumnSelectionTests: XCTestCase {
    func testValues() {
        let graph = Graph()
        let x = graph.constant(Tensor(shape: [2, 4], scalars: [0, 1, 2, 3, 10, 11, 12, 13]))
        XCTAssertEqual(selectColumns(x, ranges: [2..<4, 0..<1]).value.scalars, [2, 3, 0, 12, 13, 10])
    }

    func testGradientsOfOverlappingRanges() {
        // Columns 1 and 2 are read twice. Column 4 is never read, so its gradient is 0.
        checkGradients("selectColumns", inputs: [randomTensor([3, 5], seed: 1)],
                       build: { _, v in selectColumns(v[0], ranges: [1..<3, 0..<4]) },
                       reference: { values in
                           (0..<3).flatMap { row in (Array(1..<3) + Array(0..<4)).map { values[0][row * 5 + $0] } }
                       })
    }
}
