import XCTest
@testable import TensorCore

final class NormalizationTests: XCTestCase {
    /// Float64 normalization of groups of elements: `groups[g]` lists the flat indices of group
    /// g, and `feature(i)` gives the index into gamma and beta of element i.
    func referenceNormalize(_ x: [Double], groups: [[Int]], gamma: [Double], beta: [Double],
                            feature: (Int) -> Int, epsilon: Double) -> [Double] {
        var output = [Double](repeating: 0, count: x.count)
        for group in groups {
            let mean = group.map { x[$0] }.reduce(0, +) / Double(group.count)
            let variance = group.map { (x[$0] - mean) * (x[$0] - mean) }.reduce(0, +) / Double(group.count)
            for i in group {
                output[i] = gamma[feature(i)] * (x[i] - mean) / (variance + epsilon).squareRoot() + beta[feature(i)]
            }
        }
        return output
    }

    func testLayerNormGradient() {
        for shape in [[4, 5], [2, 3, 5]] {
            let count = shape.reduce(1, *)
            let inputs = [randomTensor(shape, seed: 80, low: -2, high: 2), randomTensor([5], seed: 81, low: 0.5, high: 1.5),
                          randomTensor([5], seed: 82)]
            checkGradients("layerNorm \(shape)", inputs: inputs) { _, v in
                layerNorm(v[0], gamma: v[1], beta: v[2])
            } reference: { x in
                let groups = stride(from: 0, to: count, by: 5).map { Array($0..<$0 + 5) }
                return self.referenceNormalize(x[0], groups: groups, gamma: x[1], beta: x[2],
                                               feature: { $0 % 5 }, epsilon: 1e-5)
            }
        }
    }

    func testBatchNormTrainingGradient() {
        let (rows, width) = (6, 3)
        let inputs = [randomTensor([rows, width], seed: 83, low: -2, high: 2),
                      randomTensor([width], seed: 84, low: 0.5, high: 1.5), randomTensor([width], seed: 85)]
        checkGradients("batchNorm training", inputs: inputs) { _, v in
            batchNorm(v[0], gamma: v[1], beta: v[2], statistics: BatchNormStatistics(width: width))
        } reference: { x in
            let groups = (0..<width).map { column in (0..<rows).map { $0 * width + column } }
            return self.referenceNormalize(x[0], groups: groups, gamma: x[1], beta: x[2],
                                           feature: { $0 % width }, epsilon: 1e-5)
        }
    }

    func testBatchNormUpdatesRunningStatistics() {
        let statistics = BatchNormStatistics(width: 2, momentum: 0.9)
        let graph = Graph(training: true)
        let x = graph.constant(Tensor(shape: [2, 2], scalars: [1, 10, 3, 30]))
        let gamma = graph.constant(Tensor(repeating: 1, shape: [2]))
        let beta = graph.constant(Tensor(zeros: [2]))
        _ = batchNorm(x, gamma: gamma, beta: beta, statistics: statistics)
        // Batch means (2, 20) and biased variances (1, 100), mixed in with weight 0.1.
        XCTAssertEqual(statistics.runningMean.scalars[0], 0.2, accuracy: 1e-6)
        XCTAssertEqual(statistics.runningMean.scalars[1], 2, accuracy: 1e-6)
        XCTAssertEqual(statistics.runningVariance.scalars[0], 1, accuracy: 1e-6)
        XCTAssertEqual(statistics.runningVariance.scalars[1], 10.9, accuracy: 1e-5)
    }

    func testBatchNormInferenceUsesRunningStatistics() {
        let statistics = BatchNormStatistics(width: 2)
        statistics.runningMean = Tensor(shape: [2], scalars: [1, -1])
        statistics.runningVariance = Tensor(shape: [2], scalars: [4, 0.25])
        let inputs = [randomTensor([3, 2], seed: 86), randomTensor([2], seed: 87), randomTensor([2], seed: 88)]
        checkGradients("batchNorm inference", inputs: inputs, training: false) { _, v in
            batchNorm(v[0], gamma: v[1], beta: v[2], statistics: statistics)
        } reference: { x in
            let (means, variances) = ([1.0, -1.0], [4.0, 0.25])
            return x[0].enumerated().map { i, value in
                let c = i % 2
                return x[1][c] * (value - means[c]) / (variances[c] + 1e-5).squareRoot() + x[2][c]
            }
        }
        XCTAssertEqual(statistics.runningMean.scalars, [1, -1])
        XCTAssertEqual(statistics.runningVariance.scalars, [4, 0.25])
    }
}
