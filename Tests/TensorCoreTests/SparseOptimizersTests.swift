import XCTest
@testable import TensorCore

/// `updateRows` against `updateRow` row by row, bit for bit: the batched loop must do each
/// element's operations in the same order as the single-row path.
final class SparseOptimizersTests: XCTestCase {
    /// Runs `steps` steps on two copies of a table `[R, D]`, one through `updateRows` and one
    /// through `updateRow`, and compares weights and state bits after each step.
    func assertBatchedMatchesSingleRows(_ makeOptimizer: () -> SparseRowOptimizer, dimension: Int, seed: UInt64,
                                        file: StaticString = #filePath, line: UInt = #line) {
        let rowCount = 40
        let steps = 4
        var generator = RandomGenerator(seed: seed)
        let batched = makeOptimizer()
        let single = makeOptimizer()
        let stateWidth = batched.stateWidth(dimension: dimension)
        var batchedWeights = (0..<(rowCount * dimension)).map { _ in generator.nextUniform(low: -1, high: 1) }
        var singleWeights = batchedWeights
        var batchedState = [Float](repeating: 0, count: rowCount * stateWidth)
        var singleState = batchedState

        for step in 0..<steps {
            // A different unsorted subset of rows each step, so some rows skip steps.
            var rows = (0..<rowCount).filter { ($0 * 7 + step * 3) % 5 != 0 }
            for i in stride(from: rows.count - 1, to: 0, by: -1) {
                rows.swapAt(i, generator.nextInt(below: i + 1))
            }
            var gradients = (0..<(rows.count * dimension)).map { _ in generator.nextUniform(low: -2, high: 2) }
            gradients[0] = 0
            gradients[gradients.count - 1] = -0.0

            batched.beginStep()
            single.beginStep()
            batchedWeights.withUnsafeMutableBufferPointer { weights in
                batchedState.withUnsafeMutableBufferPointer { state in
                    rows.withUnsafeBufferPointer { rowBuffer in
                        batched.updateRows(weights: weights.baseAddress!, state: state.baseAddress!, rows: rowBuffer,
                                           gradients: gradients, dimension: dimension)
                    }
                }
            }
            singleWeights.withUnsafeMutableBufferPointer { weights in
                singleState.withUnsafeMutableBufferPointer { state in
                    for (position, row) in rows.enumerated() {
                        single.updateRow(weights: weights.baseAddress! + row * dimension,
                                         state: state.baseAddress! + row * stateWidth,
                                         gradient: gradients.withUnsafeBufferPointer { $0.baseAddress! } + position * dimension,
                                         dimension: dimension)
                    }
                }
            }

            let weightMismatches = zip(batchedWeights, singleWeights).filter { $0.bitPattern != $1.bitPattern }.count
            let stateMismatches = zip(batchedState, singleState).filter { $0.bitPattern != $1.bitPattern }.count
            XCTAssertEqual(weightMismatches, 0, "D \(dimension) seed \(seed) step \(step): weights", file: file, line: line)
            XCTAssertEqual(stateMismatches, 0, "D \(dimension) seed \(seed) step \(step): state", file: file, line: line)
        }
    }

    func testLazyAdamRowsMatchSingleRows() {
        for dimension in [1, 3, 8, 13, 16, 24] {
            assertBatchedMatchesSingleRows({ LazyAdam(learningRate: 0.05) }, dimension: dimension, seed: UInt64(dimension))
        }
    }

    func testRowWiseAdagradRowsMatchSingleRows() {
        for dimension in [1, 8, 13] {
            assertBatchedMatchesSingleRows({ RowWiseAdagrad(learningRate: 0.05) }, dimension: dimension,
                                           seed: UInt64(100 + dimension))
        }
    }

    func testLazyAdamRowsMoveWeights() {
        // One row of D = 8 from zero moments at step 1: m = 0.1·g, v = 0.001·g², and the corrected
        // rate lr·sqrt(0.001)/0.1 makes the step lr·sign(g) up to ε.
        let optimizer = LazyAdam(learningRate: 0.01)
        var weights = [Float](repeating: 1, count: 16)
        var state = [Float](repeating: 0, count: 32)
        let gradients: [Float] = [0.5, -0.5, 2, -2, 1, -1, 0.25, -0.25]
        optimizer.beginStep()
        weights.withUnsafeMutableBufferPointer { w in
            state.withUnsafeMutableBufferPointer { s in
                [1].withUnsafeBufferPointer { rows in
                    optimizer.updateRows(weights: w.baseAddress!, state: s.baseAddress!, rows: rows,
                                         gradients: gradients, dimension: 8)
                }
            }
        }
        XCTAssertEqual(Array(weights[0..<8]), [Float](repeating: 1, count: 8))
        for k in 0..<8 {
            let expected = 1 - 0.01 * (gradients[k] > 0 ? 1.0 : -1.0)
            XCTAssertEqual(Double(weights[8 + k]), expected, accuracy: 1e-5, "element \(k)")
            XCTAssertEqual(Double(state[16 + k]), 0.1 * Double(gradients[k]), accuracy: 1e-7, "m \(k)")
        }
    }
}
