import Foundation
import XCTest
@testable import DataPipeline

final class FeatureEncodersTests: XCTestCase {
    func testFNV1aKnownValues() {
        // Published FNV-1a 64-bit test vectors.
        XCTAssertEqual(StableHash.fnv1a(""), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(StableHash.fnv1a("a"), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(StableHash.fnv1a("foobar"), 0x8594_4171_f739_67e8)
    }

    func testHashRowsFixed() {
        XCTAssertEqual(FeatureHashing.row(of: "a", buckets: 100_000), 78_911)
        XCTAssertEqual(FeatureHashing.row(of: "foobar", buckets: 100_000), 98_944)
        XCTAssertEqual(FeatureHashing.row(of: "", buckets: 100_000), 62_304)
    }

    func testHashRowsInRange() {
        for buckets in [2, 3, 17] {
            for value in 0..<200 {
                let row = FeatureHashing.row(of: "v\(value)", buckets: buckets)
                XCTAssertGreaterThanOrEqual(row, 1, "buckets \(buckets), value \(value)")
                XCTAssertLessThan(row, Int32(buckets), "buckets \(buckets), value \(value)")
            }
        }
    }

    func testQuantileBoundariesHandComputed() {
        // x = 1...8, 4 buckets: boundaries x[2], x[4], x[6] = 3, 5, 7.
        let values = (1...8).map(Double.init)
        let boundaries = QuantileBuckets.boundaries(sortedValues: values, buckets: 4)
        XCTAssertEqual(boundaries, [3, 5, 7])
        let buckets = values.map { QuantileBuckets.bucket(of: $0, boundaries: boundaries) }
        XCTAssertEqual(buckets, [0, 0, 1, 1, 2, 2, 3, 3])
        XCTAssertEqual(QuantileBuckets.bucket(of: -100, boundaries: boundaries), 0)
        XCTAssertEqual(QuantileBuckets.bucket(of: 100, boundaries: boundaries), 3)
    }

    func testQuantileBoundariesDeduplicated() {
        // x = 1, 1, 1, 1, 1, 2, 9, 9 with 4 buckets: x[2], x[4], x[6] = 1, 1, 9.
        let boundaries = QuantileBuckets.boundaries(sortedValues: [1, 1, 1, 1, 1, 2, 9, 9], buckets: 4)
        XCTAssertEqual(boundaries, [1, 9])
        XCTAssertEqual(QuantileBuckets.bucket(of: 2, boundaries: boundaries), 1)
    }

    func testQuantileWithoutValues() {
        XCTAssertEqual(QuantileBuckets.boundaries(sortedValues: [], buckets: 4), [])
    }

    func testBinaryLabelParsing() {
        let cases: [(String, Float?)] = [("0", 0), ("1", 1), ("0.0", 0), ("1.0", 1), ("2", nil), ("", nil),
                                         ("1.5", nil), ("true", nil), (" 1", nil), ("10", nil)]
        for (text, expected) in cases {
            let bytes = Array(text.utf8)
            let parsed = bytes.withUnsafeBufferPointer { FieldParsing.binaryLabel($0) }
            XCTAssertEqual(parsed, expected, "label text \"\(text)\"")
        }
    }

    func testIntegerParsing() {
        let cases: [(String, Int64?)] = [("0", 0), ("712", 712), ("-5", -5), ("", nil), ("-", nil), ("12a", nil),
                                         ("9223372036854775807", Int64.max), ("9223372036854775808", nil),
                                         ("-9223372036854775808", Int64.min)]
        for (text, expected) in cases {
            let bytes = Array(text.utf8)
            let parsed = bytes.withUnsafeBufferPointer { FieldParsing.integer($0) }
            XCTAssertEqual(parsed, expected, "integer text \"\(text)\"")
        }
    }

    func testInternerAssignsDenseIds() {
        var interner = ValueInterner()
        var ids: [Int32] = []
        // Enough values to force several table growths.
        for value in 0..<1_000 {
            let bytes = Array("value-\(value % 300)".utf8)
            ids.append(bytes.withUnsafeBufferPointer { interner.intern($0) })
        }
        XCTAssertEqual(interner.count, 300)
        XCTAssertEqual(ids[0], 0)
        XCTAssertEqual(ids[300], 0)
        XCTAssertEqual(ids[299], 299)
        XCTAssertEqual(interner.text(17), "value-17")
        let missing = Array("value-300".utf8)
        XCTAssertNil(missing.withUnsafeBufferPointer { interner.lookup($0) })
    }

    func testInternerMatchesReferenceIds() {
        // Integers below and above the direct-table limit, non-canonical integers and text,
        // against ids from a dictionary in first-insertion order.
        var generator = SplitMix64(seed: 11)
        var interner = ValueInterner()
        var reference: [[UInt8]: Int32] = [:]
        let forms = ["%d", "0%d", "-%d", "%d.0", "x%d", "%d000000000", "%d0000000000000000000"]
        for _ in 0..<20_000 {
            let number = Int(generator.next() % 3_000) * (generator.next() % 2 == 0 ? 1 : 97)
            let form = forms[Int(generator.next() % UInt64(forms.count))]
            let bytes = Array(String(format: form, number).utf8)
            let expected = reference[bytes] ?? Int32(reference.count)
            reference[bytes] = expected
            let id = bytes.withUnsafeBufferPointer { interner.intern($0) }
            XCTAssertEqual(id, expected, "value \(String(decoding: bytes, as: UTF8.self))")
        }
        XCTAssertEqual(interner.count, reference.count)
        for (bytes, id) in reference {
            XCTAssertEqual(interner.text(id), String(decoding: bytes, as: UTF8.self))
            XCTAssertEqual(interner.hash(id), StableHash.fnv1a(bytes))
            XCTAssertEqual(bytes.withUnsafeBufferPointer { interner.lookup($0) }, id)
        }
        for absent in ["3000000", "007", "", "99999999999999999999"] {
            XCTAssertNil(Array(absent.utf8).withUnsafeBufferPointer { interner.lookup($0) }, "value \(absent)")
        }
    }

    func testVocabularyRowsFollowByteOrder() {
        // Values sharing 8 or more leading bytes, prefixes of one another, a zero byte and
        // non-ASCII text; the reference order is a plain sort of the UTF-8 bytes.
        let texts = ["abcdefgh2", "abcdefgh1", "abcdefgh", "abcdefg", "a", "a\u{0}", "b\u{e9}", "b", "ab", "\u{e9}",
                     "12345678901", "1234567890", "9"]
        var values = ValueInterner()
        for text in texts { _ = Array(text.utf8).withUnsafeBufferPointer { values.intern($0) } }
        let encoder = EncoderFitting.vocabulary(values: values, trainCounts: texts.map { _ in 1 }, minCount: 1)

        let sorted = texts.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        for (id, text) in texts.enumerated() {
            XCTAssertEqual(encoder.rowOfValue[id], Int32(sorted.firstIndex(of: text)! + 1), "value \(text.debugDescription)")
        }
    }

    func testCanonicalInteger() {
        let cases: [(String, Int64?)] = [("0", 0), ("7", 7), ("262144", 262_144), ("00", nil), ("07", nil),
                                         ("-1", nil), ("1.0", nil), ("", nil), ("999999999999999999", 999_999_999_999_999_999),
                                         ("1000000000000000000", nil)]
        for (text, expected) in cases {
            let parsed = Array(text.utf8).withUnsafeBufferPointer { ValueInterner.canonicalInteger($0) }
            XCTAssertEqual(parsed, expected, "integer text \"\(text)\"")
        }
    }

    func testContentHashSeesEveryByte() throws {
        var generator = SplitMix64(seed: 5)
        let bytes = (0..<203).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        let original = bytes.withUnsafeBytes { StableHash.contentHash($0) }
        var seen: Set<UInt64> = [original]
        for index in bytes.indices {
            var changed = bytes
            changed[index] ^= 1
            seen.insert(changed.withUnsafeBytes { StableHash.contentHash($0) })
        }
        // Every one-bit change gives a hash of its own.
        XCTAssertEqual(seen.count, bytes.count + 1)
        let longer = (bytes + [0]).withUnsafeBytes { StableHash.contentHash($0) }
        XCTAssertNotEqual(longer, original)
        let empty = [UInt8]().withUnsafeBytes { StableHash.contentHash($0) }
        XCTAssertNotEqual(empty, [UInt8](repeating: 0, count: 32).withUnsafeBytes { StableHash.contentHash($0) })
    }
}
