import XCTest
@testable import DataPipeline

/// A parse in two pieces must give the table, skipped rows and errors of a parse in one piece,
/// wherever the middle of the file falls. Each case is padded with 0 to 40 extra leading rows so
/// that the split lands on every row, and inside quoted fields, in turn.
final class CSVSplitParseTests: XCTestCase {
    private struct Outcome: Equatable {
        var header: [String] = []
        var fields: [[String?]] = []
        /// The same fields read column by column with `forEachField`, `[kept columns][rows]`.
        var columnFields: [[String]] = []
        /// The same fields read through `withFieldAccess`, `[rows][kept columns]`.
        var accessFields: [[String]] = []
        var lines: [Int] = []
        var skipped: [Int] = []
        var error: String?
    }

    private func outcome(_ text: String, minimumSplitBytes: Int, errors: BadRowConfig,
                         columns: Set<String>?, firstPieceBytes: Int? = nil) -> Outcome {
        var result = Outcome()
        do {
            let parse = try CSVSplitParse(storage: ByteStorage(copying: Array(text.utf8)), fileName: "split.csv",
                                          errors: errors, columns: columns, minimumSplitBytes: minimumSplitBytes,
                                          firstPieceBytes: firstPieceBytes)
            let table = try parse.table(first: try parse.parseFirst(), second: parse.parseSecond())
            result.header = table.header
            let kept = (0..<table.columnCount).filter { table.isKept(column: $0) }
            result.fields = (0..<table.rowCount).map { row in kept.map { table.field(row: row, column: $0) } }
            result.columnFields = kept.map { column in
                var texts: [String] = []
                table.forEachField(inColumn: column) { row, bytes in
                    XCTAssertEqual(row, texts.count, "forEachField row order")
                    texts.append(String(decoding: bytes, as: UTF8.self))
                }
                return texts
            }
            result.accessFields = table.withFieldAccess { fields in
                (0..<table.rowCount).map { row in
                    kept.map { String(decoding: fields.bytes(row: row, column: $0), as: UTF8.self) }
                }
            }
            result.lines = (0..<table.rowCount).map { table.lineNumber(ofRow: $0) }
            result.skipped = BadRowKind.allCases.map { table.skippedRows[$0] }
        } catch {
            result.error = "\(error)"
        }
        return result
    }

    private func assertSameAsOnePiece(_ body: String, errors: BadRowConfig = BadRowConfig(),
                                      columns: Set<String>? = nil, file: StaticString = #filePath, line: UInt = #line) {
        for padding in 0...40 {
            let text = "a,b,c\n" + String(repeating: "1,22,333\n", count: padding) + body
            let whole = outcome(text, minimumSplitBytes: Int.max, errors: errors, columns: columns)
            let split = outcome(text, minimumSplitBytes: 0, errors: errors, columns: columns)
            XCTAssertEqual(split, whole, "padding \(padding) rows", file: file, line: line)
        }
    }

    private var skipAll: BadRowConfig {
        var config = BadRowConfig()
        for kind in BadRowKind.allCases { config[kind] = .skip }
        return config
    }

    func testPlainRows() {
        assertSameAsOnePiece(String(repeating: "4,5,6\n7,8,9\n", count: 30))
    }

    func testQuotedLineBreaks() {
        let rows = String(repeating: "1,\"x\ny\nz\",2\n3,4,5\r\n", count: 20)
        assertSameAsOnePiece(rows)
        assertSameAsOnePiece(rows, columns: ["b"])
    }

    func testDoubledQuotes() {
        assertSameAsOnePiece(String(repeating: "1,\"say \"\"hi\"\"\",2\n", count: 30))
    }

    func testErrorLineInSecondPiece() {
        let rows = String(repeating: "4,5,6\n", count: 30) + "7,8\n" + String(repeating: "4,5,6\n", count: 5)
        assertSameAsOnePiece(rows)
        let oneError = outcome("a,b,c\n" + rows, minimumSplitBytes: 0, errors: BadRowConfig(), columns: nil)
        XCTAssertNotNil(oneError.error)
        XCTAssertTrue(oneError.error?.contains("32") ?? false, "expected line 32 in \(oneError.error ?? "")")
    }

    func testSkippedRows() {
        let rows = String(repeating: "4,5,6\n\"open,7,8\n9,9,9\n", count: 12) + "1,2\n1,2,3,4\n"
        assertSameAsOnePiece(rows, errors: skipAll)
        assertSameAsOnePiece(rows, errors: skipAll, columns: ["a", "c"])
    }

    func testNoLineBreakAfterMiddle() {
        assertSameAsOnePiece("1,2,3\n4,5,\"" + String(repeating: "x", count: 400) + "\"")
    }

    /// A chosen first-piece length puts the split after every byte of a text with quoted line
    /// breaks, doubled quotes, CRLF ends and bad rows in turn.
    func testEveryFirstPieceLength() {
        let clean = "a,b,c\n1,\"x\ny\",2\r\n3,\"say \"\"hi\"\"\",4\n7,8,9\r\n10,11,12\n13,\"\",15\n"
        let bad = "a,b,c\n1,\"x\ny\",2\r\n3,\"say \"\"hi\"\"\",4\n5,6\n7,8,9\r\n\"open,1,2\n1,2,3\n"
        for text in [clean, bad] {
            for errors in [BadRowConfig(), skipAll] {
                for columns in [nil, Set(["a", "c"])] {
                    let whole = outcome(text, minimumSplitBytes: Int.max, errors: errors, columns: columns)
                    for firstPieceBytes in 0...text.utf8.count {
                        let split = outcome(text, minimumSplitBytes: 0, errors: errors, columns: columns,
                                            firstPieceBytes: firstPieceBytes)
                        XCTAssertEqual(split, whole, "first piece \(firstPieceBytes) bytes of \(text.debugDescription), "
                                       + "columns \(columns ?? [])")
                    }
                }
            }
        }
    }
}
