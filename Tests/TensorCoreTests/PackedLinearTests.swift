import XCTest
@testable import TensorCore

final class PackedLinearTests: XCTestCase {
    /// Float64 dense layer on columns `inputStart ..< inputStart + n` of `x` `[rows, stride]`.
    func referenceDense(_ x: [Double], rows: Int, stride: Int, inputStart: Int, weight: [Double], bias: [Double],
                        n: Int, m: Int, relu: Bool) -> [[Double]] {
        (0..<rows).map { row in
            (0..<m).map { column in
                var total = bias[column]
                for k in 0..<n { total += x[row * stride + inputStart + k] * weight[k * m + column] }
                return relu ? max(total, 0) : total
            }
        }
    }

    func testPackedLinearGradients() {
        // Three layers on x [5, 3]: widths 2 (relu), 4 (identity), 1 (relu).
        let widths = [2, 4, 1]
        let relu = [true, false, true]
        let inputs = [randomTensor([5, 3], seed: 1)]
            + widths.enumerated().map { randomTensor([3, $1], seed: UInt64(10 + $0)) }
            + widths.enumerated().map { randomTensor([$1], seed: UInt64(20 + $0)) }
        checkGradients("packedLinear", inputs: inputs,
                       build: { _, v in
                           packedLinear(v[0], weights: Array(v[1...3]), biases: Array(v[4...6]),
                                        activations: relu.map { $0 ? .relu : .identity })
                       },
                       reference: { values in
                           let blocks = (0..<3).map { layer in
                               self.referenceDense(values[0], rows: 5, stride: 3, inputStart: 0, weight: values[1 + layer],
                                                   bias: values[4 + layer], n: 3, m: widths[layer], relu: relu[layer])
                           }
                           return (0..<5).flatMap { row in blocks.flatMap { $0[row] } }
                       })
    }

    func testPackedLinearShape() {
        let graph = Graph()
        let output = packedLinear(graph.constant(Tensor(zeros: [4, 3])),
                                  weights: [graph.constant(Tensor(zeros: [3, 5])), graph.constant(Tensor(zeros: [3, 2]))],
                                  biases: [graph.constant(Tensor(zeros: [5])), graph.constant(Tensor(zeros: [2]))],
                                  activations: [.relu, .identity])
        XCTAssertEqual(output.shape, [4, 7])
    }

    func testBlockDiagonalLinearGradients() {
        // x [4, 8]: blocks of widths 2 and 3 from column 1, so columns 0, 6 and 7 are not read.
        for relu in [false, true] {
            let inputs = [randomTensor([4, 8], seed: 3), randomTensor([2, 3], seed: 4), randomTensor([3, 2], seed: 5),
                          randomTensor([3], seed: 6), randomTensor([2], seed: 7)]
            checkGradients("blockDiagonalLinear relu \(relu)", inputs: inputs,
                           build: { _, v in
                               blockDiagonalLinear(v[0], inputOffset: 1, weights: [v[1], v[2]], biases: [v[3], v[4]],
                                                   activation: relu ? .relu : .identity)
                           },
                           reference: { values in
                               let first = self.referenceDense(values[0], rows: 4, stride: 8, inputStart: 1,
                                                               weight: values[1], bias: values[3], n: 2, m: 3, relu: relu)
                               let second = self.referenceDense(values[0], rows: 4, stride: 8, inputStart: 3,
                                                                weight: values[2], bias: values[4], n: 3, m: 2, relu: relu)
                               return (0..<4).flatMap { first[$0] + second[$0] }
                           })
        }
    }

    func testBlockDiagonalLinearCoveringEveryColumn() {
        // Blocks of widths 2 and 3 over all 5 columns: the input gradient is written, not added.
        let inputs = [randomTensor([4, 5], seed: 13), randomTensor([2, 3], seed: 14), randomTensor([3, 2], seed: 15),
                      randomTensor([3], seed: 16), randomTensor([2], seed: 17)]
        checkGradients("blockDiagonalLinear covering", inputs: inputs,
                       build: { _, v in
                           blockDiagonalLinear(v[0], weights: [v[1], v[2]], biases: [v[3], v[4]], activation: .relu)
                       },
                       reference: { values in
                           let first = self.referenceDense(values[0], rows: 4, stride: 5, inputStart: 0,
                                                           weight: values[1], bias: values[3], n: 2, m: 3, relu: true)
                           let second = self.referenceDense(values[0], rows: 4, stride: 5, inputStart: 2,
                                                            weight: values[2], bias: values[4], n: 3, m: 2, relu: true)
                           return (0..<4).flatMap { first[$0] + second[$0] }
                       })
    }

    func testBlockDiagonalLinearAddsIntoExistingGradient() {
        // Two reads of one input: the second operation's columns add to what the first left.
        let graph = Graph()
        let x = graph.input(randomTensor([3, 4], seed: 8))
        let weight = graph.constant(Tensor(repeating: 1, shape: [2, 1]))
        let bias = graph.constant(Tensor(zeros: [1]))
        let left = blockDiagonalLinear(x, weights: [weight], biases: [bias])
        let right = blockDiagonalLinear(x, inputOffset: 1, weights: [weight], biases: [bias])
        graph.backward(weightedLoss(concat([left, right]), weights: [Float](repeating: 1, count: 6)))
        XCTAssertEqual(x.gradient?.scalars, [1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0])
    }
}
