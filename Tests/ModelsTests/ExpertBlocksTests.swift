import Models
import TensorCore
import XCTest

final class ExpertBlocksTests: XCTestCase {
    func testMixExpertsMatchesFloat64Reference() {
        var generator = RandomGenerator(seed: 3)
        let graph = Graph(training: false)
        let experts = (0..<3).map { _ in
            graph.constant(Tensor(shape: [4, 5], scalars: (0..<20).map { _ in generator.nextUniform(low: -1, high: 1) }))
        }
        let gates = graph.constant(Tensor(shape: [4, 3], scalars: (0..<12).map { _ in generator.nextUniform(low: 0, high: 1) }))
        let mixed = mixExperts(experts, gates: gates)
        XCTAssertEqual(mixed.shape, [4, 5])
        let expected = referenceMix(experts.map { Rows(rowsOf: $0.value) }, gates: Rows(rowsOf: gates.value))
        for row in 0..<4 {
            for column in 0..<5 {
                XCTAssertEqual(Double(mixed.value.scalars[row * 5 + column]), expected[row][column], accuracy: 1e-6,
                               "row \(row) column \(column)")
            }
        }
    }

    func testOneHotGateSelectsItsExpertPerRow() {
        let graph = Graph(training: false)
        let first = graph.constant(Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]))
        let second = graph.constant(Tensor(shape: [2, 2], scalars: [10, 20, 30, 40]))
        // Row 0 takes the second expert, row 1 the first.
        let gates = graph.constant(Tensor(shape: [2, 2], scalars: [0, 1, 1, 0]))
        XCTAssertEqual(mixExperts([first, second], gates: gates).value.scalars, [10, 20, 3, 4])
    }
}
