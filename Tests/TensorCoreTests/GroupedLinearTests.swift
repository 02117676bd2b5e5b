import XCTest
@testable import TensorCore

final class GroupedLinearTests: XCTestCase {
    /// Keys out of order, with group 3 left empty.
    let keys: [Int32] = [2, 0, 2, 1, 0, 1, 2]
    let groupCount = 4

    func testRowGroupsOrderIsStablePerGroup() {
        let groups = RowGroups(keys: keys, groupCount: groupCount)
        XCTAssertEqual(groups.order, [1, 4, 3, 5, 0, 2, 6])
        XCTAssertEqual(groups.offsets, [0, 2, 4, 7, 7])
        XCTAssertEqual(Array(groups.rows(ofGroup: 2)), [0, 2, 6])
        XCTAssertEqual(Array(groups.rows(ofGroup: 3)), [])
        XCTAssertEqual(groups.rowCount, 7)
    }

    func testRowGroupsOfEmptyBatch() {
        let groups = RowGroups(keys: [], groupCount: 2)
        XCTAssertEqual(groups.order, [])
        XCTAssertEqual(groups.offsets, [0, 0, 0])
    }

    /// Float64 reference: row b uses the matrix and bias of its own key.
    func reference(_ inputs: [[Double]], relu: Bool, withBias: Bool, n: Int, m: Int) -> [Double] {
        var output: [Double] = []
        for (row, key) in keys.enumerated() {
            for column in 0..<m {
                var total = withBias ? inputs[2][Int(key) * m + column] : 0
                for k in 0..<n {
                    total += inputs[0][row * n + k] * inputs[1][(Int(key) * n + k) * m + column]
                }
                output.append(relu ? max(total, 0) : total)
            }
        }
        return output
    }

    func testGradientsWithBias() {
        let (n, m) = (3, 2)
        let groups = RowGroups(keys: keys, groupCount: groupCount)
        checkGradients("groupedLinear identity",
                       inputs: [randomTensor([7, n], seed: 1), randomTensor([groupCount, n, m], seed: 2),
                                randomTensor([groupCount, m], seed: 3)],
                       build: { _, v in groupedLinear(v[0], weights: v[1], bias: v[2], groups: groups) },
                       reference: { self.reference($0, relu: false, withBias: true, n: n, m: m) })
    }

    func testGradientsWithFusedRelu() {
        let (n, m) = (4, 3)
        let groups = RowGroups(keys: keys, groupCount: groupCount)
        checkGradients("groupedLinear relu",
                       inputs: [randomTensor([7, n], seed: 4), randomTensor([groupCount, n, m], seed: 5),
                                randomTensor([groupCount, m], seed: 6)],
                       build: { _, v in
                           groupedLinear(v[0], weights: v[1], bias: v[2], groups: groups, activation: .relu)
                       },
                       reference: { self.reference($0, relu: true, withBias: true, n: n, m: m) })
    }

    func testGradientsWithoutBias() {
        let (n, m) = (2, 3)
        let groups = RowGroups(keys: keys, groupCount: groupCount)
        checkGradients("groupedLinear without bias",
                       inputs: [randomTensor([7, n], seed: 7), randomTensor([groupCount, n, m], seed: 8)],
                       build: { _, v in groupedLinear(v[0], weights: v[1], bias: nil, groups: groups) },
                       reference: { self.reference($0, relu: false, withBias: false, n: n, m: m) })
    }

    func testEmptyGroupGetsZeroGradient() {
        let graph = Graph()
        let weights = graph.input(randomTensor([groupCount, 3, 2], seed: 9))
        let bias = graph.input(randomTensor([groupCount, 2], seed: 10))
        let output = groupedLinear(graph.input(randomTensor([7, 3], seed: 11)), weights: weights, bias: bias,
                                   groups: RowGroups(keys: keys, groupCount: groupCount))
        graph.backward(weightedLoss(output, weights: [Float](repeating: 1, count: 14)))
        let weightGradient = weights.gradient!.scalars
        XCTAssertEqual(Array(weightGradient[18..<24]), [Float](repeating: 0, count: 6))
        XCTAssertEqual(Array(bias.gradient!.scalars[6..<8]), [0, 0])
        XCTAssertNotEqual(Array(weightGradient[12..<18]), [Float](repeating: 0, count: 6))
    }

    func testOneGroupMatchesLinear() {
        let graph = Graph()
        let x = graph.input(randomTensor([5, 4], seed: 12))
        let weight = randomTensor([4, 3], seed: 13)
        let bias = randomTensor([3], seed: 14)
        let grouped = groupedLinear(x, weights: graph.constant(weight.reshaped([1, 4, 3])),
                                    bias: graph.constant(bias.reshaped([1, 3])),
                                    groups: RowGroups(keys: [0, 0, 0, 0, 0], groupCount: 1), activation: .relu)
        let plain = linear(x, weight: graph.constant(weight), bias: graph.constant(bias), activation: .relu)
        XCTAssertEqual(grouped.value, plain.value)
    }

    func testOutputRowsFollowInputRows() {
        // Permuting the rows together with their keys permutes the output rows the same way.
        let x = randomTensor([7, 3], seed: 15)
        let weights = randomTensor([groupCount, 3, 2], seed: 16)
        let permutation = [6, 3, 0, 5, 1, 4, 2]
        var permutedX = Tensor(zeros: [7, 3])
        for (position, source) in permutation.enumerated() {
            for column in 0..<3 { permutedX[position, column] = x[source, column] }
        }
        let graph = Graph()
        let original = groupedLinear(graph.constant(x), weights: graph.constant(weights), bias: nil,
                                     groups: RowGroups(keys: keys, groupCount: groupCount))
        let permuted = groupedLinear(graph.constant(permutedX), weights: graph.constant(weights), bias: nil,
                                     groups: RowGroups(keys: permutation.map { keys[$0] }, groupCount: groupCount))
        for (position, source) in permutation.enumerated() {
            for column in 0..<2 {
                XCTAssertEqual(permuted.value[position, column], original.value[source, column], accuracy: 1e-6,
                               "row \(position) column \(column)")
            }
        }
    }
}
