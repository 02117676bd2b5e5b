import XCTest
@testable import DataPipeline

final class CSVReaderTests: XCTestCase {
    private func fields(_ table: CSVTable) -> [[String?]] {
        (0..<table.rowCount).map { row in (0..<table.columnCount).map { table.field(row: row, column: $0) } }
    }

    func testPlainRows() throws {
        let table = try CSVReader.parse(text: "a,b,c\n1,2,3\n4,5,6\n", fileName: "plain.csv")
        XCTAssertEqual(table.header, ["a", "b", "c"])
        XCTAssertEqual(table.rowCount, 2)
        XCTAssertEqual(fields(table), [["1", "2", "3"], ["4", "5", "6"]])
    }

    func testQuotedFieldWithComma() throws {
        let table = try CSVReader.parse(text: "id,range\n0,\"[100,1k)\"\n", fileName: "quoted.csv")
        XCTAssertEqual(fields(table), [["0", "[100,1k)"]])
    }

    func testDoubledQuotes() throws {
        let table = try CSVReader.parse(text: "a,b\n\"say \"\"hi\"\"\",x\n\"\"\"\",y\n", fileName: "doubled.csv")
        XCTAssertEqual(fields(table), [["say \"hi\"", "x"], ["\"", "y"]])
    }

    func testNewlineInsideQuotesAdvancesLineNumbers() throws {
        let table = try CSVReader.parse(text: "a,b\n\"line1\nline2\",x\n3,4\n", fileName: "multiline.csv")
        XCTAssertEqual(fields(table), [["line1\nline2", "x"], ["3", "4"]])
        XCTAssertEqual(table.lineNumber(ofRow: 0), 2)
        XCTAssertEqual(table.lineNumber(ofRow: 1), 4)
    }

    func testCRLFLineEnds() throws {
        let table = try CSVReader.parse(text: "a,b\r\n1,\"2\r\n2\"\r\n3,4\r\n", fileName: "crlf.csv")
        XCTAssertEqual(table.header, ["a", "b"])
        XCTAssertEqual(fields(table), [["1", "2\r\n2"], ["3", "4"]])
        XCTAssertEqual(table.lineNumber(ofRow: 1), 4)
    }

    func testByteOrderMarkSkipped() throws {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("user_id,x\n7,8\n".utf8)
        let table = try CSVReader.parse(bytes: bytes, fileName: "bom.csv")
        XCTAssertEqual(table.header, ["user_id", "x"])
        XCTAssertEqual(table.columnIndex(named: "user_id"), 0)
    }

    func testEmptyFieldsAreMissing() throws {
        let table = try CSVReader.parse(text: "a,b,c\n,,\n1,\"\",3\n", fileName: "empty.csv")
        XCTAssertEqual(fields(table), [[nil, nil, nil], ["1", nil, "3"]])
    }

    func testLastRowWithoutLineBreak() throws {
        let table = try CSVReader.parse(text: "a,b\n1,2\n3,", fileName: "noeol.csv")
        XCTAssertEqual(fields(table), [["1", "2"], ["3", nil]])
    }

    func testTrailingBlankLinesIgnored() throws {
        let table = try CSVReader.parse(text: "a,b\n1,2\n\n\r\n", fileName: "trailing.csv")
        XCTAssertEqual(table.rowCount, 1)
    }

    func testHeaderOnly() throws {
        let table = try CSVReader.parse(text: "a,b\n", fileName: "header.csv")
        XCTAssertEqual(table.rowCount, 0)
        XCTAssertEqual(table.header, ["a", "b"])
    }

    func testEmptyFileRejected() {
        XCTAssertThrowsError(try CSVReader.parse(text: "", fileName: "none.csv")) { error in
            XCTAssertEqual(error as? CSVError, .empty(file: "none.csv"))
        }
    }

    func testTooFewFieldsNamesLine() {
        XCTAssertThrowsError(try CSVReader.parse(text: "a,b,c\n1,2,3\n4,5\n", fileName: "few.csv")) { error in
            XCTAssertEqual(error as? CSVError, .wrongFieldCount(file: "few.csv", line: 3, expected: 3, found: 2, row: "4,5"))
            XCTAssertTrue("\(error)".contains("few.csv: line 3"), "\(error)")
        }
    }

    func testTooManyFieldsNamesLine() {
        let text = "a,b\n\"x\ny\",2\n1,2,3\n"
        XCTAssertThrowsError(try CSVReader.parse(text: text, fileName: "many.csv")) { error in
            XCTAssertEqual(error as? CSVError, .wrongFieldCount(file: "many.csv", line: 4, expected: 2, found: 3, row: "1,2,3"))
        }
    }

    func testUnbalancedQuoteNamesOpeningLine() {
        XCTAssertThrowsError(try CSVReader.parse(text: "a,b\n1,2\n3,\"open\n4,5\n", fileName: "open.csv")) { error in
            XCTAssertEqual(error as? CSVError, .unbalancedQuote(file: "open.csv", line: 3, column: "b", value: "\"open\\n4,5\\n"))
        }
    }

    func testTextAfterClosingQuoteRejected() {
        XCTAssertThrowsError(try CSVReader.parse(text: "a,b\n\"x\"y,2\n", fileName: "after.csv")) { error in
            XCTAssertEqual((error as? CSVError)?.line, 2)
        }
    }

    func testQuoteInsideUnquotedFieldRejected() {
        XCTAssertThrowsError(try CSVReader.parse(text: "a,b\n1,2\n3,ab\"c\n", fileName: "stray.csv")) { error in
            XCTAssertEqual((error as? CSVError)?.line, 3)
        }
    }

    func testLongFieldsEveryOffset() throws {
        // Fields long enough to be scanned eight bytes at a time, with the special or invalid
        // byte at every offset of the first words.
        for offset in 0..<20 {
            let plain = String(repeating: "7", count: offset)
            let table = try CSVReader.parse(text: "a,b\n\(plain),x y!\(plain)\r\n\(plain)é,#\n", fileName: "long.csv")
            XCTAssertEqual(fields(table), [[plain.isEmpty ? nil : plain, "x y!" + plain], [plain + "é", "#"]],
                           "offset \(offset)")

            let stray = "a,b\n1,\(plain)\"c\n"
            XCTAssertThrowsError(try CSVReader.parse(text: stray, fileName: "stray.csv"), "offset \(offset)") { error in
                XCTAssertEqual((error as? CSVError)?.line, 2, "offset \(offset)")
            }

            let bytes = Array("a,b\n1,\(plain)".utf8) + [0xFF] + Array("zz\n".utf8)
            XCTAssertThrowsError(try CSVReader.parse(bytes: bytes, fileName: "bad.csv"), "offset \(offset)") { error in
                guard case .invalidUTF8(_, let line, let column, _)? = error as? CSVError else {
                    return XCTFail("expected invalid UTF-8 at offset \(offset), got \(error)")
                }
                XCTAssertEqual(line, 2, "offset \(offset)")
                XCTAssertEqual(column, "b", "offset \(offset)")
            }
        }
    }

    func testDuplicateHeaderRejected() {
        XCTAssertThrowsError(try CSVReader.parse(text: "a,b,a\n1,2,3\n", fileName: "dup.csv")) { error in
            XCTAssertEqual(error as? CSVError, .duplicateColumn(file: "dup.csv", column: "a"))
        }
    }

    func testForEachFieldMatchesField() throws {
        let table = try CSVReader.parse(text: "a,b\n1,\"x,\"\"y\"\n,z\n", fileName: "each.csv")
        var seen: [String] = []
        table.forEachField(inColumn: 1) { _, bytes in seen.append(String(decoding: bytes, as: UTF8.self)) }
        XCTAssertEqual(seen, ["x,\"y", "z"])
    }

    func testRandomTablesRoundTrip() throws {
        // Seeded tables with quotes, commas and line breaks, written with quoting and read back.
        var generator = SplitMix64(seed: 2024)
        let alphabet: [Character] = ["a", "b", ",", "\"", "\n", "\r", " ", "7"]
        for trial in 0..<200 {
            let columns = 1 + Int(generator.next() % 4)
            let rows = Int(generator.next() % 6)
            var expected: [[String]] = []
            var text = (0..<columns).map { "c\($0)" }.joined(separator: ",") + "\r\n"
            for _ in 0..<rows {
                var row: [String] = []
                for _ in 0..<columns {
                    let length = Int(generator.next() % 5)
                    row.append(String((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }))
                }
                // A lone empty field in a one-column row would be a blank line, which is skipped at the end.
                if columns == 1 && row[0].isEmpty { row[0] = "e" }
                expected.append(row)
                text += row.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
                    .joined(separator: ",") + "\n"
            }
            let table = try CSVReader.parse(text: text, fileName: "random-\(trial).csv")
            XCTAssertEqual(table.rowCount, rows, "trial \(trial)")
            let actual = fields(table).map { $0.map { $0 ?? "" } }
            XCTAssertEqual(actual, expected, "trial \(trial), seed 2024")
        }
    }

    func testLoneCarriageReturnEndsLine() throws {
        let table = try CSVReader.parse(text: "a,b\r1,2\r3,4", fileName: "cr.csv")
        XCTAssertEqual(fields(table), [["1", "2"], ["3", "4"]])
        XCTAssertEqual(table.lineNumber(ofRow: 1), 3)
    }

    func testArbitraryBytesParseOrThrowCSVError() {
        // Seeded random inputs over the bytes that matter to the parser: every input must either
        // parse into a consistent table or throw a CSVError with a line inside the input.
        var generator = SplitMix64(seed: 99)
        let alphabet: [UInt8] = Array("ab,\"\r\n".utf8) + [0xEF, 0xBB, 0xBF, 0x00]
        for trial in 0..<5_000 {
            let length = Int(generator.next() % 24)
            let bytes = (0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
            let lineCount = bytes.filter { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }.count + 1
            do {
                let table = try CSVReader.parse(bytes: bytes, fileName: "fuzz.csv")
                for row in 0..<table.rowCount {
                    XCTAssertLessThanOrEqual(table.lineNumber(ofRow: row), lineCount, "trial \(trial), seed 99")
                    for column in 0..<table.columnCount {
                        _ = table.field(row: row, column: column)
                    }
                }
            } catch let error as CSVError {
                if let line = error.line {
                    XCTAssertGreaterThanOrEqual(line, 1, "trial \(trial), seed 99: \(error)")
                    XCTAssertLessThanOrEqual(line, lineCount, "trial \(trial), seed 99: \(error)")
                }
            } catch {
                XCTFail("trial \(trial), seed 99: unexpected error type \(error)")
            }
        }
    }
}
