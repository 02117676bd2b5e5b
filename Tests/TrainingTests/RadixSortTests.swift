import TensorCore
@testable import Training
import XCTest

/// `radixSort(keys:values:...)` against a comparison sort that keeps equal keys in input order.
final class RadixSortTests: XCTestCase {
    /// Sorts `keys` with the value of each key its input position, and checks keys and values
    /// against the reference.
    func assertSorts(_ keys: [UInt64], keyBits: Int, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        let count = keys.count
        var sortedKeys = keys
        var values = (0..<count).map { Int32($0) }
        var scratchKeys = [UInt64](repeating: 0, count: max(count, 1))
        var scratchValues = [Int32](repeating: 0, count: max(count, 1))
        sortedKeys.withUnsafeMutableBufferPointer { keyBuffer in
            values.withUnsafeMutableBufferPointer { valueBuffer in
                scratchKeys.withUnsafeMutableBufferPointer { scratchKeyBuffer in
                    scratchValues.withUnsafeMutableBufferPointer { scratchValueBuffer in
                        radixSort(keys: keyBuffer.baseAddress ?? scratchKeyBuffer.baseAddress!,
                                  values: valueBuffer.baseAddress ?? scratchValueBuffer.baseAddress!, count: count,
                                  keyBits: keyBits, scratchKeys: scratchKeyBuffer.baseAddress!,
                                  scratchValues: scratchValueBuffer.baseAddress!)
                    }
                }
            }
        }
        let expected = (0..<count).sorted { (keys[$0], $0) < (keys[$1], $1) }
        XCTAssertEqual(sortedKeys, expected.map { keys[$0] }, "\(message): keys", file: file, line: line)
        XCTAssertEqual(values, expected.map { Int32($0) }, "\(message): values", file: file, line: line)
    }

    func testEmpty() {
        assertSorts([], keyBits: 20, "empty")
    }

    func testSingleKey() {
        assertSorts([5], keyBits: 3, "single")
    }

    func testZeroKeyBitsKeepsOrder() {
        assertSorts([0, 0, 0], keyBits: 0, "all zero")
    }

    func testDuplicatesKeepInputOrder() {
        assertSorts([3, 1, 3, 0, 1, 3, 2, 0], keyBits: 2, "duplicates")
    }

    func testDigitBoundaries() {
        // Keys that differ only above the first 11-bit digit, and keys at the top of 64 bits.
        assertSorts([1 << 11, 1, 1 << 22, (1 << 11) - 1, 1 << 33, 0], keyBits: 34, "digit edges")
        assertSorts([UInt64.max, 0, UInt64.max - 1, 1 << 63, 12], keyBits: 64, "64-bit")
    }

    func testSeededKeysOfEveryWidth() {
        for keyBits in [1, 7, 11, 12, 22, 23, 33, 45, 64] {
            for seed in UInt64(1)...3 {
                var generator = RandomGenerator(seed: seed * 1_000 + UInt64(keyBits))
                let mask = keyBits == 64 ? UInt64.max : (UInt64(1) << keyBits) - 1
                // Few distinct values for some seeds, so long runs of equal keys occur.
                let distinct = seed == 1 ? UInt64(5) : UInt64.max
                let keys = (0..<(300 * Int(seed))).map { _ in (generator.next() % distinct) & mask }
                assertSorts(keys, keyBits: keyBits, "keyBits \(keyBits) seed \(seed)")
            }
        }
    }

    func testBitWidth() {
        XCTAssertEqual(bitWidth(below: 0), 0)
        XCTAssertEqual(bitWidth(below: 1), 0)
        XCTAssertEqual(bitWidth(below: 2), 1)
        XCTAssertEqual(bitWidth(below: 3), 2)
        XCTAssertEqual(bitWidth(below: 1024), 10)
        XCTAssertEqual(bitWidth(below: 1025), 11)
    }

    func testFieldInsideKeyWithAndWithoutValues() {
        // Bits 8..<28 are sorted; the random bits below and above them must not change the order.
        var generator = SplitMix64(seed: 17)
        let keys = (0..<3_000).map { _ in UInt64.random(in: 0...UInt64.max, using: &generator) & ~(((1 << 20) - 1) << 8)
            | UInt64.random(in: 0..<300, using: &generator) << 8 }
        let expected = keys.indices.sorted { ((keys[$0] >> 8) & 0xF_FFFF, $0) < ((keys[$1] >> 8) & 0xF_FFFF, $1) }
        for withValues in [true, false] {
            var sorted = keys
            var values = (0..<keys.count).map { Int32($0) }
            var scratchKeys = [UInt64](repeating: 0, count: keys.count)
            var scratchValues = [Int32](repeating: 0, count: keys.count)
            sorted.withUnsafeMutableBufferPointer { k in
                values.withUnsafeMutableBufferPointer { v in
                    scratchKeys.withUnsafeMutableBufferPointer { sk in
                        scratchValues.withUnsafeMutableBufferPointer { sv in
                            radixSort(keys: k.baseAddress!, values: withValues ? v.baseAddress! : nil, count: k.count,
                                      keyShift: 8, keyBits: 20, scratchKeys: sk.baseAddress!,
                                      scratchValues: withValues ? sv.baseAddress! : nil)
                        }
                    }
                }
            }
            XCTAssertEqual(sorted, expected.map { keys[$0] }, "keys, values \(withValues)")
            if withValues {
                XCTAssertEqual(values, expected.map { Int32($0) }, "values")
            }
        }
    }
}
