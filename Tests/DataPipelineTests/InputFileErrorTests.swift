import Foundation
import XCTest
@testable import DataPipeline

/// Problems with whole input files: missing, unreadable, empty, header only, and the accepted
/// byte-order mark and CRLF line ends.
final class InputFileErrorTests: XCTestCase {
    private func prepare(log: [UInt8]?, items: String? = "item,cat\ni0,c0\ni1,c1\ni2,c0\ni3,c1\ni4,c0\n") throws -> EncodedDataset {
        let directory = try TestSupport.temporaryDirectory(self)
        if let log { try Data(log).write(to: URL(fileURLWithPath: directory + "/log.csv")) }
        if let items { try TestSupport.write(items, to: "items.csv", in: directory) }
        return try DataPreparation.buildDataset(config: BadRowFixture().config(directory: directory))
    }

    private func message(_ body: () throws -> Any) -> String {
        do {
            _ = try body()
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    func testMissingLog() {
        let text = message { try prepare(log: nil) }
        XCTAssertTrue(text.hasSuffix("/log.csv: file not found; check data.directory or --data-dir"), text)
    }

    func testMissingSideTable() {
        let text = message { try prepare(log: BadRowFixture().logBytes, items: nil) }
        XCTAssertTrue(text.hasSuffix("/items.csv: file not found; check data.directory or --data-dir"), text)
    }

    func testFolderInPlaceOfFile() throws {
        let directory = try TestSupport.temporaryDirectory(self)
        try FileManager.default.createDirectory(atPath: directory + "/log.csv", withIntermediateDirectories: false)
        let text = message { try DataPreparation.buildDataset(config: BadRowFixture().config(directory: directory)) }
        XCTAssertTrue(text.hasSuffix("/log.csv: cannot read the file"), text)
    }

    func testEmptyLog() {
        for bytes in [[], [0xEF, 0xBB, 0xBF], Array("\r\n\n".utf8)] as [[UInt8]] {
            let text = message { try prepare(log: bytes) }
            XCTAssertEqual(text, "log.csv: the file is empty; expected a header line with column names", "\(bytes)")
        }
    }

    func testHeaderOnlyLog() {
        let text = message { try prepare(log: Array((BadRowFixture.logHeader + "\n").utf8)) }
        XCTAssertEqual(text, "log.csv: the file has a header but no data rows; expected at least one row")
    }

    func testAllRowsSkipped() throws {
        let directory = try TestSupport.temporaryDirectory(self)
        var fixture = BadRowFixture(goodRows: 0)
        fixture.extraLogLines = [Array("u1,i1,1".utf8)]
        try fixture.write(to: directory)
        var config = fixture.config(directory: directory)
        config.errors.fieldCount = .skip
        config.errors.maxSkippedShare = 1
        let text = message { try DataPreparation.buildDataset(config: config) }
        XCTAssertEqual(text, "log.csv: all 1 rows were skipped as bad rows; expected at least one row")
    }

    func testByteOrderMarkAndCRLFAccepted() throws {
        let plain = try prepare(log: BadRowFixture().logBytes)
        var converted: [UInt8] = [0xEF, 0xBB, 0xBF]
        for byte in BadRowFixture().logBytes {
            if byte == UInt8(ascii: "\n") { converted.append(UInt8(ascii: "\r")) }
            converted.append(byte)
        }
        let windows = try prepare(log: converted)

        XCTAssertEqual(windows.report.logRows, 200)
        XCTAssertEqual(windows.train.features, plain.train.features)
        XCTAssertEqual(windows.test.features, plain.test.features)
        XCTAssertEqual(windows.train.labels, plain.train.labels)
    }

    func testInvalidUTF8HeaderStopsEvenWhenSkipping() throws {
        let header: [UInt8] = Array("uid,item,day,sc,click,d".utf8) + [0xFF] + Array("ur\n".utf8)
        let table = message {
            try CSVReader.parse(bytes: header + Array("1,2,3,4,5,6\n".utf8), fileName: "log.csv",
                                errors: { var errors = BadRowConfig(); errors.invalidUTF8 = .skip; return errors }())
        }
        XCTAssertTrue(table.hasPrefix("log.csv: line 1, column \"column 6\": \"d\u{FFFD}ur\" is not valid UTF-8"), table)
    }

    func testInvalidUTF8InsideQuotedField() throws {
        var errors = BadRowConfig()
        errors.invalidUTF8 = .skip
        let bytes = Array("a,b\n1,\"x\"\"".utf8) + [0xE2, 0x82] + Array("\"\n2,y\n".utf8)
        let table = try CSVReader.parse(bytes: bytes, fileName: "q.csv", errors: errors)
        XCTAssertEqual(table.rowCount, 1)
        XCTAssertEqual(table.field(row: 0, column: 1), "y")
        XCTAssertEqual(table.skippedRows.invalidUTF8, 1)
    }
}
