import XCTest
@testable import TensorCore

final class ReductionsTests: XCTestCase {
    /// Float64 sum along `axis` of a row-major tensor of `shape`, times `factor`.
    func referenceReduce(_ x: [Double], shape: [Int], axis: Int, factor: Double) -> [Double] {
        let outer = shape[..<axis].reduce(1, *)
        let extent = shape[axis]
        let inner = shape[(axis + 1)...].reduce(1, *)
        var output = [Double](repeating: 0, count: outer * inner)
        for o in 0..<outer {
            for e in 0..<extent {
                for i in 0..<inner { output[o * inner + i] += x[(o * extent + e) * inner + i] * factor }
            }
        }
        return output
    }

    func testSumAndMeanEveryAxis() {
        for shape in [[5], [3, 4], [2, 3, 4]] {
            for axis in -shape.count..<shape.count {
                let resolved = axis < 0 ? axis + shape.count : axis
                let input = randomTensor(shape, seed: 70)
                checkGradients("sum \(shape) axis \(axis)", inputs: [input]) { _, v in
                    sum(v[0], axis: axis)
                } reference: { x in
                    self.referenceReduce(x[0], shape: shape, axis: resolved, factor: 1)
                }
                checkGradients("mean \(shape) axis \(axis)", inputs: [input]) { _, v in
                    mean(v[0], axis: axis, keepDimension: true)
                } reference: { x in
                    self.referenceReduce(x[0], shape: shape, axis: resolved, factor: 1 / Double(shape[resolved]))
                }
            }
        }
    }

    func testReductionShapes() {
        let graph = Graph()
        let input = graph.constant(Tensor(zeros: [2, 3, 4]))
        XCTAssertEqual(sum(input, axis: 1).shape, [2, 4])
        XCTAssertEqual(sum(input, axis: -1, keepDimension: true).shape, [2, 3, 1])
        XCTAssertEqual(mean(graph.constant(Tensor(zeros: [5])), axis: 0).shape, [1])
        XCTAssertEqual(sum(input).shape, [1])
    }

    func testSumAndMeanAll() {
        let input = randomTensor([3, 4], seed: 71)
        checkGradients("sum all", inputs: [input]) { _, v in sum(v[0]) } reference: { x in [x[0].reduce(0, +)] }
        checkGradients("mean all", inputs: [input]) { _, v in mean(v[0]) } reference: { x in
            [x[0].reduce(0, +) / 12]
        }
    }
}
