import Foundation
import XCTest
@testable import TensorCore

final class MixtureOpsTests: XCTestCase {
    /// Float64 gated mixture: experts in columns `0 ..< e·h` of rows `expertStride` wide, logits
    /// from `gateOffset` of rows `gateStride` wide.
    func reference(experts: [Double], expertStride: Int, logits: [Double], gateStride: Int, gateOffset: Int,
                   rows: Int, e: Int, h: Int, t: Int) -> [Double] {
        var output: [Double] = []
        for row in 0..<rows {
            for task in 0..<t {
                let l = (0..<e).map { logits[row * gateStride + gateOffset + task * e + $0] }
                let exps = l.map { Foundation.exp($0) }
                let total = exps.reduce(0, +)
                for column in 0..<h {
                    var mixed = 0.0
                    for expert in 0..<e { mixed += exps[expert] / total * experts[row * expertStride + expert * h + column] }
                    output.append(mixed)
                }
            }
        }
        return output
    }

    func testGradientsWithSeparateInputs() {
        // E 3, H 2, T 2. Experts [4, 7] have a spare column, and logits [4, 8] start at column 2.
        checkGradients("gatedMixture separate",
                       inputs: [randomTensor([4, 7], seed: 1), randomTensor([4, 8], seed: 2, low: -2, high: 2)],
                       build: { _, v in
                           gatedMixture(experts: v[0], expertWidth: 2, gateLogits: v[1], gateOffset: 2, taskCount: 2)
                       },
                       reference: { values in
                           self.reference(experts: values[0], expertStride: 7, logits: values[1], gateStride: 8,
                                          gateOffset: 2, rows: 4, e: 3, h: 2, t: 2)
                       })
    }

    func testGradientsWhenExpertsFillTheirInput() {
        // Experts [3, E·H] exactly, so their gradient is written rather than added: E 2, H 3, T 3.
        checkGradients("gatedMixture exact experts",
                       inputs: [randomTensor([3, 6], seed: 4), randomTensor([3, 6], seed: 5, low: -2, high: 2)],
                       build: { _, v in
                           gatedMixture(experts: v[0], expertWidth: 3, gateLogits: v[1], gateOffset: 0, taskCount: 3)
                       },
                       reference: { values in
                           self.reference(experts: values[0], expertStride: 6, logits: values[1], gateStride: 6,
                                          gateOffset: 0, rows: 3, e: 2, h: 3, t: 3)
                       })
    }

    func testGradientsWhenExpertsAndLogitsShareAVariable() {
        // E 2, H 9 (past one eight-lane step), T 3: [5, 2·9 + 3·2].
        checkGradients("gatedMixture shared",
                       inputs: [randomTensor([5, 24], seed: 3, low: -2, high: 2)],
                       build: { _, v in
                           gatedMixture(experts: v[0], expertWidth: 9, gateLogits: v[0], gateOffset: 18, taskCount: 3)
                       },
                       reference: { values in
                           self.reference(experts: values[0], expertStride: 24, logits: values[0], gateStride: 24,
                                          gateOffset: 18, rows: 5, e: 2, h: 9, t: 3)
                       })
    }

    func testLargeLogitsDoNotOverflow() {
        let graph = Graph()
        let experts = graph.constant(Tensor(shape: [1, 2], scalars: [3, 5]))
        let logits = graph.constant(Tensor(shape: [1, 2], scalars: [1000, 1000]))
        let output = gatedMixture(experts: experts, expertWidth: 1, gateLogits: logits, gateOffset: 0, taskCount: 1)
        XCTAssertEqual(output.value.scalars, [4])
    }
}
