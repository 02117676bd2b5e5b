import TensorCore
@testable import Training
import XCTest

/// `RowIndexMap` against a Dictionary, over tables with a slot per row and hashed tables, across
/// several batches so that `removeAll` must forget every pair.
final class RowIndexMapTests: XCTestCase {
    func testIndicesFollowFirstInsertion() {
        let map = RowIndexMap(rowCounts: [4, 3])
        map.removeAll(capacity: 8)
        XCTAssertEqual(map.insert(feature: 1, row: 2), 0)
        XCTAssertEqual(map.insert(feature: 0, row: 2), 1)
        XCTAssertEqual(map.insert(feature: 1, row: 2), 0)
        XCTAssertEqual(map.insert(feature: 0, row: 0), 2)
        XCTAssertEqual(map.count, 3)
    }

    func testRemoveAllForgetsPairs() {
        let map = RowIndexMap(rowCounts: [4, RowIndexMap.denseRowLimit + 5])
        map.removeAll(capacity: 4)
        XCTAssertEqual(map.insert(feature: 0, row: 3), 0)
        XCTAssertEqual(map.insert(feature: 1, row: RowIndexMap.denseRowLimit + 1), 1)
        map.removeAll(capacity: 4)
        XCTAssertEqual(map.count, 0)
        XCTAssertEqual(map.insert(feature: 1, row: RowIndexMap.denseRowLimit + 1), 0)
        XCTAssertEqual(map.insert(feature: 0, row: 3), 1)
    }

    func testDenseAndHashedTablesMatchDictionary() {
        let rowCounts = [3, RowIndexMap.denseRowLimit, RowIndexMap.denseRowLimit + 1, 1 << 30]
        let map = RowIndexMap(rowCounts: rowCounts)
        var generator = RandomGenerator(seed: 17)
        for batch in 0..<5 {
            let capacity = 2_000 + 500 * batch
            map.removeAll(capacity: capacity)
            var reference: [[Int]: Int] = [:]
            for _ in 0..<capacity {
                let feature = generator.nextInt(below: rowCounts.count)
                // Rows near both ends of each table, with repeats.
                let rows = rowCounts[feature]
                let offset = generator.nextInt(below: min(rows, 40))
                let row = generator.nextInt(below: 2) == 0 ? offset : rows - 1 - offset
                let expected = reference[[feature, row]] ?? reference.count
                reference[[feature, row]] = expected
                XCTAssertEqual(map.insert(feature: feature, row: row), expected, "batch \(batch) feature \(feature) row \(row)")
            }
            XCTAssertEqual(map.count, reference.count, "batch \(batch)")
        }
    }
}
