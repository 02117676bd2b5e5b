@testable import Training
import XCTest

final class KeyIndexTests: XCTestCase {
    func testIndicesFollowFirstInsertion() {
        var index = KeyIndex(capacity: 4)
        XCTAssertEqual(index.insert(40), 0)
        XCTAssertEqual(index.insert(7), 1)
        XCTAssertEqual(index.insert(40), 0)
        XCTAssertEqual(index.insert(1 << 45), 2)
        XCTAssertEqual(index.keys, [40, 7, 1 << 45])
        XCTAssertEqual(index.index(of: 7), 1)
        XCTAssertNil(index.index(of: 8))
    }

    /// Far past the initial capacity, with keys that collide in their low bits, against a
    /// Dictionary as the reference.
    func testGrowsAndMatchesDictionary() {
        var index = KeyIndex(capacity: 2)
        var reference: [Int64: Int] = [:]
        var generator = SystemRandomNumberGenerator()
        for step in 0..<20_000 {
            let key = step % 3 == 0 ? Int64(step % 5_000) << 20 : Int64.random(in: 0..<60_000, using: &generator)
            let expected = reference[key] ?? reference.count
            reference[key] = expected
            XCTAssertEqual(index.insert(key), expected)
        }
        XCTAssertEqual(index.count, reference.count)
        for (key, value) in reference {
            XCTAssertEqual(index.index(of: key), value)
        }
    }
}
