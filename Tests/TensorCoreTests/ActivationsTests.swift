import Foundation
import XCTest
@testable import TensorCore

final class ActivationsTests: XCTestCase {
    /// Inputs in [-3, 3] kept away from 0, where relu and leakyRelu have a kink.
    func inputsAwayFromZero(_ shape: [Int], seed: UInt64) -> Tensor {
        randomTensor(shape, seed: seed, low: -3, high: 3).mapScalars { abs($0) < 0.05 ? $0 + 0.1 : $0 }
    }

    func testRelu() {
        checkGradients("relu", inputs: [inputsAwayFromZero([4, 5], seed: 30)]) { _, v in relu(v[0]) } reference: { x in
            x[0].map { max($0, 0) }
        }
    }

    func testLeakyRelu() {
        checkGradients("leakyRelu", inputs: [inputsAwayFromZero([4, 5], seed: 31)]) { _, v in
            leakyRelu(v[0], slope: 0.2)
        } reference: { x in
            x[0].map { $0 > 0 ? $0 : 0.2 * $0 }
        }
    }

    func testSigmoid() {
        checkGradients("sigmoid", inputs: [randomTensor([2, 3, 4], seed: 32, low: -5, high: 5)]) { _, v in
            sigmoid(v[0])
        } reference: { x in
            x[0].map { 1 / (1 + Foundation.exp(-$0)) }
        }
    }

    func testSigmoidExtremeInputsFinite() {
        let graph = Graph()
        let output = sigmoid(graph.constant(Tensor(shape: [4], scalars: [-1e4, -100, 100, 1e4])))
        XCTAssertEqual(output.value.scalars, [0, Float(Foundation.exp(-100.0)), 1, 1])
    }

    func testTanh() {
        checkGradients("tanh", inputs: [randomTensor([3, 4], seed: 33, low: -3, high: 3)]) { _, v in
            tanh(v[0])
        } reference: { x in
            x[0].map { Foundation.tanh($0) }
        }
    }

    func referenceLogSoftmax(_ x: [Double], width: Int) -> [Double] {
        stride(from: 0, to: x.count, by: width).flatMap { start -> [Double] in
            let row = Array(x[start..<start + width])
            let logTotal = Foundation.log(row.map { Foundation.exp($0) }.reduce(0, +))
            return row.map { $0 - logTotal }
        }
    }

    func testSoftmax() {
        for shape in [[5], [3, 4], [2, 3, 4]] {
            checkGradients("softmax \(shape)", inputs: [randomTensor(shape, seed: 34, low: -3, high: 3)]) { _, v in
                softmax(v[0])
            } reference: { x in
                self.referenceLogSoftmax(x[0], width: shape.last!).map { Foundation.exp($0) }
            }
        }
    }

    func testLogSoftmax() {
        for shape in [[5], [3, 4], [2, 3, 4]] {
            checkGradients("logSoftmax \(shape)", inputs: [randomTensor(shape, seed: 35, low: -3, high: 3)]) { _, v in
                logSoftmax(v[0])
            } reference: { x in
                self.referenceLogSoftmax(x[0], width: shape.last!)
            }
        }
    }

    func testSoftmaxLargeLogitsStable() {
        let graph = Graph()
        let logits = graph.constant(Tensor(shape: [1, 3], scalars: [1000, 1001, 1002]))
        let probabilities = softmax(logits).value.scalars
        let logProbabilities = logSoftmax(logits).value.scalars
        let expected = referenceLogSoftmax([0, 1, 2], width: 3)
        for i in 0..<3 {
            XCTAssertEqual(Double(probabilities[i]), Foundation.exp(expected[i]), accuracy: 1e-6)
            XCTAssertEqual(Double(logProbabilities[i]), expected[i], accuracy: 1e-5)
        }
    }
}

final class ActivationKernelTests: XCTestCase {
    /// Every input on a fine grid of [-110, 110], against libm in Double: within 4e-7 of the
    /// result, or one subnormal step (1.4e-45) where the result is that small.
    func testLogisticMatchesDouble() {
        var x: Float = -110
        var checked = 0
        while x <= 110 {
            let value = Double(scalarLogistic(x))
            let reference = 1 / (1 + Foundation.exp(-Double(x)))
            XCTAssertLessThanOrEqual(abs(value - reference), max(4e-7 * reference, 1.5e-45), "logistic(\(x))")
            x += 0.003_7
            checked += 1
        }
        XCTAssertGreaterThan(checked, 59_000)
    }

    func testVectorAndScalarLanesAgree() {
        let inputs = (0..<37).map { Float($0) * 0.71 - 13 }
        var values = inputs
        values.withUnsafeMutableBufferPointer { applyScaledLogistic($0, scale: 2) }
        for (input, value) in zip(inputs, values) {
            XCTAssertEqual(value, 2 * scalarLogistic(input), "input \(input)")
        }
    }

    func testAllFinite() {
        var values = [Float](repeating: 1.5, count: 21)
        XCTAssertTrue(values.withUnsafeBufferPointer { allFinite($0) })
        for position in [0, 7, 16, 20] {
            for bad in [Float.nan, .infinity, -.infinity] {
                var copy = values
                copy[position] = bad
                XCTAssertFalse(copy.withUnsafeBufferPointer { allFinite($0) }, "\(bad) at \(position)")
            }
        }
        values[3] = .greatestFiniteMagnitude
        XCTAssertTrue(values.withUnsafeBufferPointer { allFinite($0) })
    }

    func testCopyCheckingFinite() {
        for count in [1, 8, 21] {
            let values = (0..<count).map { Float($0) * 1.5 - 7 }
            var target = [Float](repeating: -1, count: count)
            let finite = values.withUnsafeBufferPointer { source in
                target.withUnsafeMutableBufferPointer { copyCheckingFinite(from: source.baseAddress!, to: $0.baseAddress!, count: count) }
            }
            XCTAssertTrue(finite, "count \(count)")
            XCTAssertEqual(target, values, "count \(count)")
        }
        for position in [0, 7, 16, 20] {
            for bad in [Float.nan, .infinity, -.infinity] {
                var values = [Float](repeating: 1.5, count: 21)
                values[position] = bad
                var target = [Float](repeating: 0, count: 21)
                let finite = values.withUnsafeBufferPointer { source in
                    target.withUnsafeMutableBufferPointer { copyCheckingFinite(from: source.baseAddress!, to: $0.baseAddress!, count: 21) }
                }
                XCTAssertFalse(finite, "\(bad) at \(position)")
                XCTAssertEqual(target.map(\.bitPattern), values.map(\.bitPattern), "\(bad) at \(position)")
            }
        }
    }
}
