import XCTest
@testable import TensorCore

final class DropoutTests: XCTestCase {
    func testGradientWithFixedMask() {
        let rate: Float = 0.3
        checkGradients("dropout", inputs: [randomTensor([4, 6], seed: 90)]) { _, v in
            var generator = RandomGenerator(seed: 5)
            return dropout(v[0], rate: rate, generator: &generator)
        } reference: { x in
            // The documented mask rule, replayed from the same seed.
            var generator = RandomGenerator(seed: 5)
            return x[0].map { generator.nextFloat() >= rate ? $0 / (1 - Double(rate)) : 0 }
        }
    }

    func testKeptFractionNearOneMinusRate() {
        let graph = Graph(training: true)
        var generator = RandomGenerator(seed: 6)
        let output = dropout(graph.constant(Tensor(repeating: 1, shape: [100, 100])), rate: 0.25, generator: &generator)
        let kept = output.value.scalars.filter { $0 != 0 }
        XCTAssertEqual(Double(kept.count) / 10_000, 0.75, accuracy: 0.02)
        XCTAssertTrue(kept.allSatisfy { abs($0 - 4 / 3) < 1e-6 })
    }

    func testIdentityWhenNotTraining() {
        let graph = Graph(training: false)
        var generator = RandomGenerator(seed: 7)
        let before = generator.state
        let input = graph.constant(randomTensor([3, 3], seed: 91))
        XCTAssertTrue(dropout(input, rate: 0.5, generator: &generator) === input)
        XCTAssertEqual(generator.state, before)
    }

    func testIdentityWhenRateZero() {
        let graph = Graph(training: true)
        var generator = RandomGenerator(seed: 8)
        let input = graph.constant(randomTensor([3, 3], seed: 92))
        XCTAssertTrue(dropout(input, rate: 0, generator: &generator) === input)
    }
}
