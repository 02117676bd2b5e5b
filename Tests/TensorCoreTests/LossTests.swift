import Foundation
import XCTest
@testable import TensorCore

final class LossTests: XCTestCase {
    /// The cross-entropy in float64 by the textbook formula, `−y·log σ(x) − (1−y)·log(1−σ(x))`,
    /// valid for moderate logits.
    func textbookLoss(_ x: Double, _ y: Double) -> Double {
        let p = 1 / (1 + Foundation.exp(-x))
        return -y * Foundation.log(p) - (1 - y) * Foundation.log(1 - p)
    }

    func testGradientAndValue() {
        let (rows, tasks) = (5, 3)
        let labels = Tensor(shape: [rows, tasks], scalars: (0..<(rows * tasks)).map { Float(($0 * 7) % 3 == 0 ? 1 : 0) })
        let weights: [Float] = [1, 0.5, 2]
        let normalizer: Float = 8
        checkGradients("bce", inputs: [randomTensor([rows, tasks], seed: 60, low: -4, high: 4)]) { _, v in
            binaryCrossEntropyWithLogits(v[0], labels: labels, taskWeights: weights, normalizer: normalizer)
        } reference: { x in
            var total = 0.0
            for i in 0..<(rows * tasks) {
                total += Double(weights[i % tasks]) * self.textbookLoss(x[0][i], Double(labels.scalars[i]))
            }
            return [total / Double(normalizer)]
        }
    }

    func testExtremeLogitsFinite() {
        let logits = Tensor(shape: [2, 2], scalars: [1e4, -1e4, 1e4, -1e4])
        let labels = Tensor(shape: [2, 2], scalars: [0, 1, 1, 0])
        let graph = Graph()
        let input = graph.input(logits)
        let loss = binaryCrossEntropyWithLogits(input, labels: labels, taskWeights: [1, 1], normalizer: 2)
        graph.backward(loss)

        // Wrong-side logits cost |x| each and right-side ones nothing: (1e4 + 1e4) / 2.
        XCTAssertEqual(loss.value.scalars[0], 1e4)
        XCTAssertEqual(input.gradient?.scalars, [0.5, -0.5, 0, 0])
    }

    func testPerTaskSums() {
        let logits = randomTensor([4, 2], seed: 61, low: -3, high: 3)
        let labels = Tensor(shape: [4, 2], scalars: [1, 0, 0, 1, 1, 1, 0, 0])
        let totals = binaryCrossEntropyPerTask(logits: logits, labels: labels)
        XCTAssertEqual(totals.count, 2)
        for task in 0..<2 {
            let expected = (0..<4).reduce(0.0) {
                $0 + textbookLoss(Double(logits[$1, task]), Double(labels[$1, task]))
            }
            XCTAssertEqual(totals[task], expected, accuracy: 1e-5)
        }
    }
}
