import XCTest
@testable import TensorCore

final class GraphTests: XCTestCase {
    func testParameterUsedTwiceAccumulates() {
        // y = x·W then z = y·W, so W gets the gradient of both uses added into Parameter.gradient.
        let x = randomTensor([2, 3], seed: 100)
        let weight = Parameter(name: "w", value: randomTensor([3, 3], seed: 101))
        let graph = Graph()
        let w1 = graph.parameter(weight)
        let w2 = graph.parameter(weight)
        let output = matmul(matmul(graph.constant(x), w1), w2)
        var generator = RandomGenerator(seed: 102)
        let weights = (0..<6).map { _ in generator.nextUniform(low: -1, high: 1) }
        graph.backward(weightedLoss(output, weights: weights))

        func loss(_ w: [Double]) -> Double {
            let y = referenceMatmul(x.scalars.map(Double.init), w, m: 2, n: 3, k: 3)
            let z = referenceMatmul(y, w, m: 2, n: 3, k: 3)
            return zip(z, weights).reduce(0) { $0 + $1.0 * Double($1.1) }
        }
        let base = weight.value.scalars.map(Double.init)
        for j in 0..<9 {
            var plus = base
            var minus = base
            plus[j] += 1e-6
            minus[j] -= 1e-6
            let numeric = (loss(plus) - loss(minus)) / 2e-6
            XCTAssertEqual(Double(weight.gradient.scalars[j]), numeric, accuracy: 1e-4 * max(1, abs(numeric)),
                           "element \(j)")
        }
    }

    func testConstantGetsNoGradient() {
        let graph = Graph()
        let constant = graph.constant(Tensor(repeating: 2, shape: [2]))
        let input = graph.input(Tensor(repeating: 3, shape: [2]))
        graph.backward(sum(constant * input))
        XCTAssertNil(constant.gradient)
        XCTAssertEqual(input.gradient?.scalars, [2, 2])
    }
}
