import XCTest
@testable import TensorCore

final class ShapeOpsTests: XCTestCase {
    func testConcatLastAxis() {
        let shapes = [[3, 2], [3, 4], [3, 1]]
        checkGradients("concat", inputs: shapes.enumerated().map { randomTensor($1, seed: 40 + UInt64($0)) }) { _, v in
            concat(v)
        } reference: { x in
            (0..<3).flatMap { row in
                zip(x, shapes).flatMap { values, shape in values[(row * shape[1])..<((row + 1) * shape[1])] }
            }
        }
    }

    func testConcatRank3Shape() {
        let graph = Graph()
        let joined = concat([graph.constant(Tensor(zeros: [2, 3, 4])), graph.constant(Tensor(zeros: [2, 3, 1]))])
        XCTAssertEqual(joined.shape, [2, 3, 5])
    }

    func testSplitThenConcatRoundTrip() {
        // Splitting and rejoining in another order: checks that every piece's gradient lands in
        // its own columns.
        let sizes = [2, 3, 1]
        checkGradients("split", inputs: [randomTensor([2, 2, 6], seed: 45)]) { _, v in
            let parts = split(v[0], sizes: sizes)
            return concat([parts[2], parts[0], scale(parts[1], by: 2)])
        } reference: { x in
            (0..<4).flatMap { row -> [Double] in
                let values = Array(x[0][(row * 6)..<((row + 1) * 6)])
                return [values[5], values[0], values[1]] + values[2..<5].map { 2 * $0 }
            }
        }
    }

    func testSliceColumnsTwice() {
        // Two overlapping slices of one input: each adds into its own columns.
        checkGradients("slice", inputs: [randomTensor([3, 7], seed: 46)]) { _, v in
            concat([slice(v[0], columns: 1..<4), scale(slice(v[0], columns: 3..<6), by: 3)])
        } reference: { x in
            (0..<3).flatMap { row -> [Double] in
                let values = Array(x[0][(row * 7)..<((row + 1) * 7)])
                return Array(values[1..<4]) + values[3..<6].map { 3 * $0 }
            }
        }
    }

    func testSplitPartsUnusedKeepZeroGradient() {
        let graph = Graph()
        let input = graph.input(randomTensor([2, 5], seed: 46))
        let parts = split(input, sizes: [3, 2])
        XCTAssertEqual(parts.map(\.shape), [[2, 3], [2, 2]])
        graph.backward(weightedLoss(parts[1], weights: [1, 2, 3, 4]))
        XCTAssertEqual(input.gradient?.scalars, [0, 0, 0, 1, 2, 0, 0, 0, 3, 4])
    }

    func testReshape() {
        checkGradients("reshape", inputs: [randomTensor([2, 6], seed: 47)]) { _, v in
            reshape(v[0], [3, 2, 2]) * reshape(v[0], [3, 2, 2])
        } reference: { x in
            x[0].map { $0 * $0 }
        }
    }

    func testStopGradient() {
        let graph = Graph()
        let input = graph.input(randomTensor([3], seed: 48))
        let stopped = stopGradient(input)
        XCTAssertEqual(stopped.value, input.value)
        XCTAssertFalse(stopped.requiresGradient)
        graph.backward(sum(input * stopped))
        // Only the direct path contributes: d(a · stop(a))/da = stop(a) = a.
        XCTAssertEqual(input.gradient, input.value)
    }

    func testGatherRowsDuplicateIndices() {
        let indices: [Int32] = [2, 0, 2, 3, 2]
        checkGradients("gatherRows", inputs: [randomTensor([4, 3], seed: 49)]) { _, v in
            gatherRows(v[0], indices: indices)
        } reference: { x in
            indices.flatMap { x[0][(Int($0) * 3)..<(Int($0) * 3 + 3)] }
        }
    }

    func testGatherRowsUnusedRowGradientZero() {
        let graph = Graph()
        let table = graph.input(randomTensor([3, 2], seed: 50))
        let rows = gatherRows(table, indices: [1, 1])
        graph.backward(weightedLoss(rows, weights: [1, 2, 3, 4]))
        XCTAssertEqual(table.gradient?.scalars, [0, 0, 4, 6, 0, 0])
    }
}
