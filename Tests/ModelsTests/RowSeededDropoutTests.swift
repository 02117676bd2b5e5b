import Models
import TensorCore
import XCTest

final class RowSeededDropoutTests: XCTestCase {
    func testMaskDependsOnlyOnRowSeeds() {
        // A batch split in two must drop the same units as the whole batch, as on two ranks.
        let seeds: [UInt64] = [11, 22, 33, 44, 55, 66]
        let values = Tensor(shape: [6, 40], scalars: (0..<240).map { Float($0 % 7) + 1 })
        let whole = Graph(training: true)
        let all = rowSeededDropout(whole.constant(values), rate: 0.3, rowSeeds: seeds, layer: 1).value.scalars
        let halves = [0..<3, 3..<6].flatMap { rows -> [Float] in
            let graph = Graph(training: true)
            let part = Tensor(shape: [3, 40], scalars: Array(values.scalars[(rows.lowerBound * 40)..<(rows.upperBound * 40)]))
            return rowSeededDropout(graph.constant(part), rate: 0.3, rowSeeds: Array(seeds[rows]), layer: 1).value.scalars
        }
        XCTAssertEqual(all, halves)
    }

    func testKeptUnitsAreScaledAndRateIsRespected() {
        let rows = 200
        let graph = Graph(training: true)
        let input = graph.constant(Tensor(repeating: 1, shape: [rows, 50]))
        let output = rowSeededDropout(input, rate: 0.25, rowSeeds: (0..<rows).map(UInt64.init), layer: 0).value.scalars
        let kept = output.filter { $0 != 0 }
        XCTAssertTrue(kept.allSatisfy { abs($0 - 1 / 0.75) < 1e-6 })
        let dropShare = Double(output.count - kept.count) / Double(output.count)
        XCTAssertEqual(dropShare, 0.25, accuracy: 0.02)
    }

    func testIdentityAtInference() {
        let graph = Graph(training: false)
        let input = graph.constant(Tensor(repeating: 3, shape: [4, 5]))
        let output = rowSeededDropout(input, rate: 0.5, rowSeeds: [1, 2, 3, 4], layer: 0)
        XCTAssertEqual(output.value, input.value)
    }
}
