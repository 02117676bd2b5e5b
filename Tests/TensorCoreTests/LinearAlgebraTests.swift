import Foundation
import XCTest
@testable import TensorCore

final class LinearAlgebraTests: XCTestCase {
    func testMatmulAllTransposes() {
        let (m, n, k) = (5, 4, 3)
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                let a = randomTensor(transposeA ? [k, m] : [m, k], seed: 1)
                let b = randomTensor(transposeB ? [n, k] : [k, n], seed: 2)
                checkGradients("matmul tA=\(transposeA) tB=\(transposeB)", inputs: [a, b]) { _, v in
                    matmul(v[0], v[1], transposeA: transposeA, transposeB: transposeB)
                } reference: { x in
                    referenceMatmul(x[0], x[1], m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
                }
            }
        }
    }

    func testMatmulLargeAgainstNaiveLoops() {
        let (m, n, k) = (67, 45, 130)
        let a = randomTensor([m, k], seed: 3)
        let b = randomTensor([k, n], seed: 4)
        let graph = Graph()
        let product = matmul(graph.constant(a), graph.constant(b))
        let expected = referenceMatmul(a.scalars.map(Double.init), b.scalars.map(Double.init), m: m, n: n, k: k)
        XCTAssertEqual(product.shape, [m, n])
        let worst = zip(product.value.scalars, expected).map { abs(Double($0) - $1) }.max()!
        XCTAssertLessThan(worst, 1e-4)
    }

    func testBatchedMatmulPerSample() {
        let batch = 3
        for (m, n, k) in [(1, 4, 4), (2, 3, 4)] {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    let a = randomTensor(transposeA ? [batch, k, m] : [batch, m, k], seed: 5)
                    let b = randomTensor(transposeB ? [batch, n, k] : [batch, k, n], seed: 6)
                    checkGradients("batched \(m)x\(k)x\(n) tA=\(transposeA) tB=\(transposeB)", inputs: [a, b]) { _, v in
                        batchedMatmul(v[0], v[1], transposeA: transposeA, transposeB: transposeB)
                    } reference: { x in
                        (0..<batch).flatMap { s in
                            referenceMatmul(Array(x[0][(s * m * k)..<((s + 1) * m * k)]),
                                            Array(x[1][(s * k * n)..<((s + 1) * k * n)]),
                                            m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
                        }
                    }
                }
            }
        }
    }

    func testBatchedMatmulSharedMatrix() {
        let (batch, m, n, k) = (3, 2, 5, 4)
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                let a = randomTensor(transposeA ? [batch, k, m] : [batch, m, k], seed: 7)
                let b = randomTensor(transposeB ? [n, k] : [k, n], seed: 8)
                checkGradients("batched shared tA=\(transposeA) tB=\(transposeB)", inputs: [a, b]) { _, v in
                    batchedMatmul(v[0], v[1], transposeA: transposeA, transposeB: transposeB)
                } reference: { x in
                    (0..<batch).flatMap { s in
                        referenceMatmul(Array(x[0][(s * m * k)..<((s + 1) * m * k)]), x[1],
                                        m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
                    }
                }
            }
        }
    }

    func testBatchedMatmulShape() {
        let graph = Graph()
        let a = graph.constant(Tensor(zeros: [4, 3, 2]))
        let b = graph.constant(Tensor(zeros: [4, 2, 5]))
        XCTAssertEqual(batchedMatmul(a, b).shape, [4, 3, 5])
        XCTAssertEqual(batchedMatmul(a, graph.constant(Tensor(zeros: [2, 6]))).shape, [4, 3, 6])
    }

    func testLinearWithBias() {
        let (rows, n, m) = (4, 3, 5)
        checkGradients("linear", inputs: [randomTensor([rows, n], seed: 9), randomTensor([n, m], seed: 10),
                                          randomTensor([m], seed: 11)]) { _, v in
            linear(v[0], weight: v[1], bias: v[2])
        } reference: { x in
            referenceMatmul(x[0], x[1], m: rows, n: m, k: n).enumerated().map { $1 + x[2][$0 % m] }
        }
    }

    func testLinearWithoutBias() {
        let (rows, n, m) = (4, 3, 5)
        checkGradients("linear no bias", inputs: [randomTensor([rows, n], seed: 12), randomTensor([n, m], seed: 13)]) { _, v in
            linear(v[0], weight: v[1], bias: nil)
        } reference: { x in
            referenceMatmul(x[0], x[1], m: rows, n: m, k: n)
        }
    }

    func testLinearFusedRelu() {
        let (rows, n, m) = (6, 4, 5)
        checkGradients("linear relu", inputs: [randomTensor([rows, n], seed: 14), randomTensor([n, m], seed: 15),
                                               randomTensor([m], seed: 16)]) { _, v in
            linear(v[0], weight: v[1], bias: v[2], activation: .relu)
        } reference: { x in
            referenceMatmul(x[0], x[1], m: rows, n: m, k: n).enumerated().map { max($1 + x[2][$0 % m], 0) }
        }
    }

    func testLinearFusedScaledSigmoid() {
        let (rows, n, m) = (6, 4, 5)
        checkGradients("linear scaled sigmoid", inputs: [randomTensor([rows, n], seed: 17), randomTensor([n, m], seed: 18),
                                                         randomTensor([m], seed: 19)]) { _, v in
            linear(v[0], weight: v[1], bias: v[2], activation: .scaledSigmoid(scale: 2))
        } reference: { x in
            referenceMatmul(x[0], x[1], m: rows, n: m, k: n).enumerated().map { 2 / (1 + Foundation.exp(-($1 + x[2][$0 % m]))) }
        }
    }

    /// A linear layer over `[a ‖ sg(b) ‖ c]` computes the input gradient only for a and c; it
    /// must equal the full product's columns.
    func testLinearSkipsStoppedInputColumns() {
        let (rows, m) = (5, 7)
        let parts = [randomTensor([rows, 3], seed: 40), randomTensor([rows, 6], seed: 41), randomTensor([rows, 2], seed: 42)]
        let weight = randomTensor([11, m], seed: 43)
        let direction = randomTensor([rows, m], seed: 44)
        func gradients(stopMiddle: Bool) -> [Tensor] {
            let graph = Graph()
            let inputs = parts.map { graph.input($0) }
            let middle = stopMiddle ? stopGradient(inputs[1]) : inputs[1]
            let x = concat([inputs[0], middle, inputs[2]])
            XCTAssertEqual(x.neededGradientColumns, stopMiddle ? [0..<3, 9..<11] : nil)
            let y = linear(x, weight: graph.constant(weight), bias: nil)
            graph.backward(sum(y * graph.constant(direction)))
            return [inputs[0].gradient!, inputs[2].gradient!]
        }
        let skipped = gradients(stopMiddle: true)
        let full = gradients(stopMiddle: false)
        XCTAssertEqual(skipped[0], full[0])
        XCTAssertEqual(skipped[1], full[1])
    }

    func testLinearShape() {
        let graph = Graph()
        let output = linear(graph.constant(Tensor(zeros: [7, 3])), weight: graph.constant(Tensor(zeros: [3, 2])),
                            bias: graph.constant(Tensor(zeros: [2])))
        XCTAssertEqual(output.shape, [7, 2])
    }

    func testEmptyInnerWidthGivesZeros() {
        let graph = Graph()
        let product = matmul(graph.constant(Tensor(zeros: [3, 0])), graph.constant(Tensor(zeros: [0, 2])))
        XCTAssertEqual(product.value, Tensor(zeros: [3, 2]))
    }
}
