import XCTest
@testable import TensorCore

final class GeneratedCoreProductTests: XCTestCase {
    /// Float64: S_b = reshape(c_b · W + s, [K, K]) formed explicitly, then y_b = x_b · S_b.
    func reference(_ values: [[Double]], rows: Int, k: Int, c: Int) -> [Double] {
        let (x, condition, weight, bias) = (values[0], values[1], values[2], values[3])
        var output: [Double] = []
        for row in 0..<rows {
            var core = bias
            for j in 0..<c {
                for i in 0..<(k * k) { core[i] += condition[row * c + j] * weight[j * k * k + i] }
            }
            for q in 0..<k {
                var total = 0.0
                for p in 0..<k { total += x[row * k + p] * core[p * k + q] }
                output.append(total)
            }
        }
        return output
    }

    func testGradients() {
        // K 9 (past one eight-lane step) with C 2, and K 3 with a condition wider than K.
        for (k, c) in [(9, 2), (3, 5)] {
            checkGradients("generatedCoreProduct K \(k) C \(c)",
                           inputs: [randomTensor([4, k], seed: 1), randomTensor([4, c], seed: 2),
                                    randomTensor([c, k * k], seed: 3), randomTensor([k * k], seed: 4)],
                           build: { _, v in generatedCoreProduct(v[0], condition: v[1], weight: v[2], bias: v[3]) },
                           reference: { self.reference($0, rows: 4, k: k, c: c) })
        }
    }

    func testGroupedGradients() {
        // 9 rows whose conditions take 3 values, out of order: the per-group way runs.
        let (rows, k, c) = (9, 9, 2)
        let values = randomTensor([3, c], seed: 11).scalars
        let pattern = [2, 0, 0, 1, 2, 2, 0, 1, 0]
        let condition = Tensor(shape: [rows, c], scalars: pattern.flatMap { values[($0 * c)..<($0 * c + c)] })
        XCTAssertEqual(identicalRowGroups(condition, maximumGroups: 3)?.firstRows, [0, 1, 3])
        checkGradients("generatedCoreProduct grouped",
                       inputs: [randomTensor([rows, k], seed: 12), condition, randomTensor([c, k * k], seed: 13),
                                randomTensor([k * k], seed: 14)],
                       build: { _, v in
                           generatedCoreProduct(v[0], condition: v[1], weight: v[2], bias: v[3], maximumGroups: 3)
                       },
                       reference: { self.reference($0, rows: rows, k: k, c: c) })
    }

    /// Float64 for a rectangular core and K vectors per row: S_b = reshape(c_b · W + s, [N, M])
    /// formed explicitly, then y_bk = x_bk · S_b.
    func rectangularReference(_ values: [[Double]], rows: Int, vectors: Int, n: Int, m: Int, c: Int) -> [Double] {
        let (x, condition, weight, bias) = (values[0], values[1], values[2], values[3])
        var output: [Double] = []
        for row in 0..<rows {
            var core = bias
            for j in 0..<c {
                for i in 0..<(n * m) { core[i] += condition[row * c + j] * weight[j * n * m + i] }
            }
            for vector in 0..<vectors {
                for q in 0..<m {
                    var total = 0.0
                    for p in 0..<n { total += x[(row * vectors + vector) * n + p] * core[p * m + q] }
                    output.append(total)
                }
            }
        }
        return output
    }

    /// 12 rows whose conditions take 3 values, out of order.
    func threeValuedCondition(width c: Int, seed: UInt64) -> Tensor {
        let values = randomTensor([3, c], seed: seed).scalars
        let pattern = [2, 0, 0, 1, 2, 2, 0, 1, 0, 1, 1, 2]
        return Tensor(shape: [pattern.count, c], scalars: pattern.flatMap { values[($0 * c)..<($0 * c + c)] })
    }

    func testRectangularGradients() {
        // N ≠ M both ways, as a matrix x and with K = 3 vectors per row; each by both ways. The
        // grouped way's condition gradient goes through the row core gradients when M < K·C.
        let rows = 12
        for (n, m, c, vectors) in [(5, 9, 2, 1), (9, 4, 3, 1), (4, 2, 5, 1), (5, 3, 4, 3), (3, 10, 2, 3)] {
            let xShape = vectors == 1 ? [rows, n] : [rows, vectors, n]
            for (way, maximumGroups, condition) in [("outer", 0, randomTensor([rows, c], seed: 21)),
                                                    ("grouped", 3, threeValuedCondition(width: c, seed: 22))] {
                checkGradients("generatedCoreProduct \(way) N \(n) M \(m) C \(c) K \(vectors)",
                               inputs: [randomTensor(xShape, seed: 23), condition, randomTensor([c, n * m], seed: 24),
                                        randomTensor([n * m], seed: 25)],
                               build: { _, v in
                                   let y = generatedCoreProduct(v[0], condition: v[1], weight: v[2], bias: v[3],
                                                                maximumGroups: maximumGroups)
                                   XCTAssertEqual(y.shape, vectors == 1 ? [rows, m] : [rows, vectors, m])
                                   return y
                               },
                               reference: {
                                   self.rectangularReference($0, rows: rows, vectors: vectors, n: n, m: m, c: c)
                               })
            }
        }
    }

    func testGroupsOnlyFewDistinctRows() {
        // 12 rows allow one group: a single repeated row groups, three values do not.
        XCTAssertTrue(generatedCoreProductGroupsRows(of: Tensor(repeating: 0.5, shape: [12, 2])))
        XCTAssertFalse(generatedCoreProductGroupsRows(of: threeValuedCondition(width: 2, seed: 26)))
    }

    func testIdenticalRowsCompareBits() {
        let negativeZero = Tensor(shape: [3, 2], scalars: [0, 1, -0.0, 1, 0, 1])
        XCTAssertEqual(identicalRowGroups(negativeZero, maximumGroups: 4)?.groups.order, [0, 2, 1])
        let nan = Tensor(shape: [2, 1], scalars: [.nan, .nan])
        XCTAssertEqual(identicalRowGroups(nan, maximumGroups: 1)?.firstRows, [0])
        XCTAssertNil(identicalRowGroups(negativeZero, maximumGroups: 1))
        XCTAssertNil(identicalRowGroups(Tensor(zeros: [0, 2]), maximumGroups: 1))
    }

    func testMatchesFormedCores() {
        // Against the batchedMatmul of explicitly generated cores, the path it replaces.
        let (rows, k, c) = (6, 5, 3)
        let graph = Graph()
        let x = graph.input(randomTensor([rows, k], seed: 5))
        let condition = graph.input(randomTensor([rows, c], seed: 6))
        let weight = graph.input(randomTensor([c, k * k], seed: 7))
        let bias = graph.input(randomTensor([k * k], seed: 8))
        let fast = generatedCoreProduct(x, condition: condition, weight: weight, bias: bias)
        let cores = reshape(linear(condition, weight: weight, bias: bias), [rows, k, k])
        let formed = reshape(batchedMatmul(reshape(x, [rows, 1, k]), cores), [rows, k])
        for (a, b) in zip(fast.value.scalars, formed.value.scalars) {
            XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b)))
        }
    }
}
