import Foundation
import XCTest
@testable import DataPipeline

/// Each kind of bad row under "stop" (the message) and "skip" (the counts), the share limit,
/// and the file-level errors, on small files the tests write.
final class BadRowTests: XCTestCase {
    /// One bad log line, its kind, and what its "stop" message must contain.
    struct Case {
        let kind: BadRowKind
        let line: [UInt8]
        let messageParts: [String]
        var maxLineBytes: Int? = nil

        init(_ kind: BadRowKind, _ text: String, _ messageParts: [String], maxLineBytes: Int? = nil) {
            self.kind = kind
            self.line = Array(text.utf8)
            self.messageParts = messageParts
            self.maxLineBytes = maxLineBytes
        }

        init(_ kind: BadRowKind, bytes: [UInt8], _ messageParts: [String]) {
            self.kind = kind
            self.line = bytes
            self.messageParts = messageParts
        }
    }

    static let cases: [Case] = [
        Case(.fieldCount, "u1,i1,1,a,1", ["expected 6 fields", "found 5", "\"u1,i1,1,a,1\""]),
        Case(.fieldCount, "u1,i1,1,a,1,5,extra", ["found 7"]),
        Case(.unbalancedQuote, "u1,\"i1,1,a,1,5", ["column \"item\"", "never closed", "\"\"i1,1,a,1,5\\n"]),
        Case(.unbalancedQuote, "u1,i\"1,1,a,1,5", ["column \"item\"", "a quote inside an unquoted field", "\"i\"1\""]),
        Case(.unbalancedQuote, "u1,\"i1\"x,1,a,1,5", ["column \"item\"", "text after the closing quote"]),
        Case(.lineTooLong, "u1,i1,1,a,1," + String(repeating: "9", count: 100),
             ["the row has 112 bytes", "data.errors.maxLineBytes (64)", "\"u1,i1,1,a,1,999"], maxLineBytes: 64),
        Case(.invalidUTF8, bytes: Array("u1,i1,1,a,1,".utf8) + [0xC3, 0x28], ["column \"dur\"", "not valid UTF-8", "\u{FFFD}("]),
        Case(.invalidLabel, "u1,i1,1,a,2,5", ["label column \"click\"", "\"2\"", "expected 0 or 1"]),
        Case(.invalidLabel, "u1,i1,1,a,,5", ["label column \"click\"", "has \"\""]),
        Case(.invalidNumber, "u1,i1,1,a,1,NaN", ["column \"dur\"", "\"NaN\"", "expected a finite number"]),
        Case(.invalidNumber, "u1,i1,1,a,1,twelve", ["column \"dur\"", "\"twelve\""]),
        Case(.invalidNumber, "u1,i1,monday,a,1,5", ["column \"day\"", "\"monday\""]),
        Case(.invalidNumber, "u1,i1,,a,1,5", ["split column \"day\" is empty"]),
        Case(.missingJoinKey, "u1,i99,1,a,1,5", ["key column \"item\"", "\"i99\"", "not in items.csv"]),
        Case(.unknownScene, "u1,i1,1,z,1,5", ["scene column \"sc\"", "\"z\"", "data.scene.values"]),
    ]

    private func prepare(_ fixture: BadRowFixture, _ edit: (inout BadRowConfig) -> Void = { _ in }) throws -> EncodedDataset {
        let directory = try TestSupport.temporaryDirectory(self)
        try fixture.write(to: directory)
        var config = fixture.config(directory: directory)
        edit(&config.errors)
        return try DataPreparation.buildDataset(config: config)
    }

    private func message(_ body: () throws -> Any) -> String? {
        do {
            _ = try body()
            return nil
        } catch {
            return "\(error)"
        }
    }

    func testCleanFixture() throws {
        let dataset = try prepare(BadRowFixture())
        XCTAssertEqual(dataset.report.logRows, 200)
        XCTAssertEqual(dataset.report.trainRows + dataset.report.testRows, 200)
        XCTAssertEqual(dataset.report.skippedRows, BadRowCounts())
    }

    func testStopMessages() throws {
        for testCase in Self.cases {
            let fixture = BadRowFixture(extraLogLines: [testCase.line])
            let text = message {
                try prepare(fixture) { errors in
                    errors[testCase.kind] = .stop
                    if let bytes = testCase.maxLineBytes { errors.maxLineBytes = bytes }
                }
            }
            let label = "\(testCase.kind.rawValue): \(text ?? "no error")"
            XCTAssertTrue(text?.hasPrefix("log.csv: line \(fixture.firstExtraLine)") ?? false, label)
            XCTAssertTrue(text?.contains("data.errors.\(testCase.kind.rawValue)") ?? false, label)
            for part in testCase.messageParts {
                XCTAssertTrue(text?.contains(part) ?? false, "expected \(part) in \(label)")
            }
        }
    }

    func testSkipCounts() throws {
        for testCase in Self.cases {
            let fixture = BadRowFixture(extraLogLines: [testCase.line])
            let dataset = try prepare(fixture) { errors in
                errors[testCase.kind] = .skip
                if let bytes = testCase.maxLineBytes { errors.maxLineBytes = bytes }
            }
            let label = "\(testCase.kind.rawValue): \(String(decoding: testCase.line, as: UTF8.self))"
            var expected = BadRowCounts()
            expected[testCase.kind] = 1
            XCTAssertEqual(dataset.report.skippedRows, expected, label)
            XCTAssertEqual(dataset.report.logRows, 201, label)
            // Every good row, including those after the bad line, stays.
            XCTAssertEqual(dataset.report.trainRows + dataset.report.testRows, 200, label)
            XCTAssertEqual(dataset.train.count + dataset.test.count, 200, label)
        }
    }

    func testMissingJoinKeyKeptByDefault() throws {
        let dataset = try prepare(BadRowFixture(extraLogLines: [Array("u1,i99,1,a,1,5".utf8)]))
        XCTAssertEqual(dataset.report.trainRows + dataset.report.testRows, 201)
        XCTAssertEqual(dataset.report.missingJoinKeys["items.csv"], 1)
        XCTAssertEqual(dataset.report.skippedRows.total, 0)
    }

    func testUnknownSceneCountedNotInShare() throws {
        let lines = (0..<50).map { _ in Array("u1,i1,1,z,1,5".utf8) }
        let dataset = try prepare(BadRowFixture(extraLogLines: lines))
        XCTAssertEqual(dataset.report.skippedRows.unknownScene, 50)
        XCTAssertEqual(dataset.report.skippedRows.total, 0)
        XCTAssertEqual(dataset.report.droppedBySceneValue["z"], 50)
    }

    func testShareLimitStops() throws {
        // 3 of 203 rows is above 1 %, 2 of 202 is below.
        let bad = [Array("u1,i1,1,a,1".utf8), Array("u1,i1,1,a,2,5".utf8), Array("u1,i1,1,a,1".utf8)]
        let text = message {
            try prepare(BadRowFixture(extraLogLines: bad)) { errors in
                errors.fieldCount = .skip
                errors.invalidLabel = .skip
            }
        }
        XCTAssertEqual(text, "log.csv: skipped 3 of 203 rows (fieldCount: 2, invalidLabel: 1), more than "
                       + "data.errors.maxSkippedShare (0.01) allows; fix the file or raise data.errors.maxSkippedShare")

        let dataset = try prepare(BadRowFixture(extraLogLines: Array(bad.prefix(2)))) { errors in
            errors.fieldCount = .skip
            errors.invalidLabel = .skip
        }
        XCTAssertEqual(dataset.report.skippedRows.total, 2)
    }

    func testSkippedSideRowMissesJoin() throws {
        var fixture = BadRowFixture()
        fixture.itemLines[2] = "i2,c0,extra"
        let dataset = try prepare(fixture) { errors in
            errors.fieldCount = .skip
            errors.maxSkippedShare = 0.5
        }
        var expected = BadRowCounts()
        expected.fieldCount = 1
        XCTAssertEqual(dataset.report.skippedSideTableRows["items.csv"], expected)
        XCTAssertEqual(dataset.report.missingJoinKeys["items.csv"], 40)
        XCTAssertEqual(dataset.report.skippedRows.total, 0)
    }

    func testSideTableShareLimit() throws {
        var fixture = BadRowFixture()
        fixture.itemLines[2] = "i2,c0,extra"
        let text = message { try prepare(fixture) { $0.fieldCount = .skip } }
        XCTAssertTrue(text?.hasPrefix("items.csv: skipped 1 of 5 rows (fieldCount: 1)") ?? false, text ?? "no error")
    }

    func testSkippedRowsReachPreparedFile() throws {
        let directory = try TestSupport.temporaryDirectory(self)
        let fixture = BadRowFixture(extraLogLines: [Array("u1,i1,1,a,7,5".utf8)])
        try fixture.write(to: directory)
        var config = fixture.config(directory: directory)
        config.errors.invalidLabel = .skip
        let result = try DataPreparation.prepare(config: config, dataDirectory: nil, cacheDirectory: directory + "/cache")
        let reused = try DataPreparation.prepare(config: config, dataDirectory: nil, cacheDirectory: directory + "/cache")

        XCTAssertEqual(result.report.skippedRows.invalidLabel, 1)
        XCTAssertTrue(reused.reusedCache)
        XCTAssertEqual(reused.report.skippedRows.invalidLabel, 1)
    }
}
