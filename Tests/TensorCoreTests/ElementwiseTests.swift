import XCTest
@testable import TensorCore

final class ElementwiseTests: XCTestCase {
    /// Each broadcast pattern the models use, plus the general ones, in both operand orders.
    let shapePairs: [([Int], [Int])] = [
        ([3, 4], [3, 4]), ([3, 4], [4]), ([3, 4], [3, 1]), ([3, 4], [1, 4]), ([3, 4], [1]),
        ([2, 3, 4], [3, 4]), ([2, 3, 4], [2, 1, 4]), ([2, 3, 4], [2, 3, 1]), ([2, 3, 4], [4]),
        ([2, 1, 4], [3, 1]), ([2, 3, 4], [1, 1, 1]),
    ]

    func checkBinary(_ name: String, _ op: @escaping (Variable, Variable) -> Variable,
                     positiveRight: Bool = false, _ combine: @escaping (Double, Double) -> Double) {
        for (first, second) in shapePairs {
            for (left, right) in [(first, second), (second, first)] {
                let a = randomTensor(left, seed: 20)
                let b = positiveRight ? randomTensor(right, seed: 21, low: 0.5, high: 2) : randomTensor(right, seed: 21)
                checkGradients("\(name) \(left) \(right)", inputs: [a, b]) { _, v in
                    op(v[0], v[1])
                } reference: { x in
                    referenceBroadcast(x[0], left, x[1], right, combine).values
                }
            }
        }
    }

    func testAddBroadcast() { checkBinary("add", +, +) }
    func testSubtractBroadcast() { checkBinary("subtract", -, -) }
    func testMultiplyBroadcast() { checkBinary("multiply", *, *) }
    func testDivideBroadcast() { checkBinary("divide", /, positiveRight: true, /) }

    func testBroadcastShapes() {
        let graph = Graph()
        for (left, right, expected) in [([3, 4], [4], [3, 4]), ([2, 1, 4], [3, 1], [2, 3, 4]),
                                        ([1], [2, 3], [2, 3]), ([5, 1], [1, 6], [5, 6])] {
            let sum = graph.constant(Tensor(zeros: left)) + graph.constant(Tensor(zeros: right))
            XCTAssertEqual(sum.shape, expected, "\(left) + \(right)")
        }
    }

    func testScalarOperations() {
        let a = randomTensor([3, 4], seed: 22)
        let cases: [(String, (Variable) -> Variable, (Double) -> Double)] = [
            ("times", { $0 * 2.5 }, { $0 * 2.5 }),
            ("times left", { 2.5 * $0 }, { 2.5 * $0 }),
            ("plus", { $0 + 1.5 }, { $0 + 1.5 }),
            ("minus", { $0 - 1.5 }, { $0 - 1.5 }),
            ("from", { 1.5 - $0 }, { 1.5 - $0 }),
            ("scale", { scale($0, by: -3) }, { -3 * $0 }),
            ("negate", { negate($0) }, { -$0 }),
        ]
        for (name, op, reference) in cases {
            checkGradients(name, inputs: [a]) { _, v in op(v[0]) } reference: { x in x[0].map(reference) }
        }
    }

    func testVariableUsedTwiceAccumulates() {
        // y = a · a + a, so dy/da = 2a + 1.
        checkGradients("a*a+a", inputs: [randomTensor([2, 3], seed: 23)]) { _, v in
            v[0] * v[0] + v[0]
        } reference: { x in
            x[0].map { $0 * $0 + $0 }
        }
    }
}
