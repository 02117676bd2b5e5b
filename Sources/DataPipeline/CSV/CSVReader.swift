import Foundation

/// An RFC 4180 CSV parser working on bytes: comma separators, fields optionally enclosed in
/// double quotes, `""` for a quote inside a quoted field, commas and line breaks inside quoted
/// fields, LF, CRLF or lone CR line ends, and an optional UTF-8 byte-order mark.
///
/// The first line is the header. Every data row must have as many fields as the header, at most
/// `maxLineBytes` bytes and valid UTF-8, and a quote may only open a field (a stray quote is an
/// error, not text). A bad row throws a `CSVError`, or is left out and counted in
/// `CSVTable.skippedRows` when its kind's policy is `skip`. Line breaks after the last row are
/// ignored. Parsing is O(file bytes) with one pass and no per-field allocation.
public enum CSVReader {
    /// The largest file the reader accepts: field offsets are 32-bit and unescaped quoted fields
    /// are appended after the file bytes, which can double the storage in the worst case.
    public static let maximumFileBytes = Int(UInt32.max / 2)

    /// Reads and parses the file at `path`; errors name the file as `fileName` (default: `path`).
    /// With `columns`, only the fields of the named columns are kept (see `parse(bytes:)`).
    public static func read(path: String, fileName: String? = nil, errors: BadRowConfig = BadRowConfig(),
                            columns: Set<String>? = nil) throws -> CSVTable {
        let name = fileName ?? path
        guard let storage = ByteStorage.contents(ofFile: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "file not found"
            throw CSVError.unreadable(file: name, reason: reason)
        }
        return try parse(storage: storage, fileName: name, errors: errors, columns: columns)
    }

    /// Parses CSV text held in `bytes`, applying the row policies and line limit of `errors`.
    ///
    /// With `columns`, the table keeps the fields of only those columns (names the header lacks
    /// are ignored), which saves memory for wide files of which a few columns are read. Every
    /// column is still parsed and checked, so the errors and skipped rows are those of a full parse.
    public static func parse(bytes: [UInt8], fileName: String, errors: BadRowConfig = BadRowConfig(),
                             columns: Set<String>? = nil) throws -> CSVTable {
        try parse(storage: ByteStorage(copying: bytes), fileName: fileName, errors: errors, columns: columns)
    }

    /// Parses the CSV text in `storage`; the table reads its fields from it without a copy unless
    /// a quoted field needs unescaping.
    static func parse(storage: ByteStorage, fileName: String, errors: BadRowConfig = BadRowConfig(),
                      columns: Set<String>? = nil) throws -> CSVTable {
        let bytes = storage.bytes
        guard bytes.count <= maximumFileBytes else {
            throw CSVError.tooLarge(file: fileName, bytes: bytes.count, maximumBytes: maximumFileBytes)
        }
        var parser = Parser(fileName: fileName, fileBytes: bytes.count, errors: errors, columns: columns)
        try parser.run(bytes)
        guard let header = parser.header else { throw CSVError.empty(file: fileName) }

        let tableStorage = parser.unescaped.isEmpty ? storage : ByteStorage(concatenating: bytes, parser.unescaped)
        return CSVTable(fileName: fileName, header: header, rowCount: parser.rowLines.count,
                        storage: tableStorage, slotOfColumn: parser.slotOfColumn,
                        fieldStarts: parser.fieldStarts, fieldEnds: parser.fieldEnds,
                        rowLines: parser.rowLines, skippedRows: parser.skippedRows)
    }

    /// Parses CSV text given as a string (for tests and small inputs).
    public static func parse(text: String, fileName: String, errors: BadRowConfig = BadRowConfig()) throws -> CSVTable {
        try parse(bytes: Array(text.utf8), fileName: fileName, errors: errors)
    }
}

private let comma = UInt8(ascii: ",")
private let quote = UInt8(ascii: "\"")
private let lineFeed = UInt8(ascii: "\n")
private let carriageReturn = UInt8(ascii: "\r")
/// Bit b set for each byte b that ends an unquoted field or is a stray quote.
private let specialBytes: UInt64 = (1 << UInt64(comma)) | (1 << UInt64(quote)) | (1 << UInt64(lineFeed))
    | (1 << UInt64(carriageReturn))

/// The parser state for one file. Offsets of unescaped fields point past the file bytes
/// (`fileBytes + position in unescaped`), where `parse` appends `unescaped`.
///
/// A row's field offsets go to the small `rowStarts` and `rowEnds` first, where the checks read
/// all of them; only a row that passes copies its kept fields to `fieldStarts` and `fieldEnds`.
private struct Parser {
    let fileName: String
    let fileBytes: Int
    let errors: BadRowConfig
    let columns: Set<String>?
    var header: [String]?
    var skippedRows = BadRowCounts()
    /// Position of each column among the kept ones, -1 for a column left out.
    var slotOfColumn: [Int] = []
    let fieldStarts: OffsetBuffer
    let fieldEnds: OffsetBuffer
    let rowStarts = OffsetBuffer(capacity: 64)
    let rowEnds = OffsetBuffer(capacity: 64)
    let rowLines: OffsetBuffer
    var unescaped: [UInt8] = []
    var line = 1
    /// All bytes of the current row ORed together, so its high bit tells whether the row has
    /// any non-ASCII byte without a second pass over it.
    var rowBits: UInt8 = 0

    init(fileName: String, fileBytes: Int, errors: BadRowConfig, columns: Set<String>?) {
        self.fileName = fileName
        self.fileBytes = fileBytes
        self.errors = errors
        self.columns = columns
        // Room for one field per 2 bytes (one character and its separator) and one row per 8
        // bytes. Files of many empty fields or short rows grow the buffers further. Reserving
        // generously avoids copying them as they grow, and pages beyond the values actually
        // stored are never touched.
        fieldStarts = OffsetBuffer(capacity: fileBytes / 2 + 1)
        fieldEnds = OffsetBuffer(capacity: fileBytes / 2 + 1)
        rowLines = OffsetBuffer(capacity: fileBytes / 8 + 1)
    }

    mutating func run(_ bytes: UnsafeBufferPointer<UInt8>) throws {
        var position = 0
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            position = 3
        }
        if isTrailingLineBreaks(bytes, from: position) { return }

        // The header goes through the same field parser, then its fields become names. A bad
        // header is never skipped, because no row could be read without it.
        var count = try parseRow(bytes, &position)
        var names: [String] = []
        for index in 0..<count {
            let start = Int(rowStarts[index])
            let end = Int(rowEnds[index])
            if let problem = invalidUTF8(bytes, start, end, line: 1, column: "column \(names.count + 1)") {
                throw problem
            }
            names.append(text(bytes, start, end))
        }
        unescaped.removeAll(keepingCapacity: true)
        var seen = Set<String>()
        for name in names where !seen.insert(name).inserted {
            throw CSVError.duplicateColumn(file: fileName, column: name)
        }
        header = names
        var keptColumns: [Int] = []
        for (column, name) in names.enumerated() {
            if columns?.contains(name) ?? true {
                slotOfColumn.append(keptColumns.count)
                keptColumns.append(column)
            } else {
                slotOfColumn.append(-1)
            }
        }

        let expected = names.count
        while position < bytes.count {
            if isTrailingLineBreaks(bytes, from: position) { break }
            let rowStart = position
            let rowLine = line
            let unescapedMark = unescaped.count
            do {
                count = try parseRow(bytes, &position)
                try check(bytes, rowStart: rowStart, rowEnd: position, line: rowLine, count: count, expected: expected)
                rowLines.append(UInt32(rowLine))
                for column in keptColumns {
                    fieldStarts.append(rowStarts[column])
                    fieldEnds.append(rowEnds[column])
                }
            } catch let error as CSVError {
                guard let kind = error.badRowKind, errors[kind] == .skip else { throw error }
                skippedRows[kind] += 1
                unescaped.removeSubrange(unescapedMark...)
                if case .unbalancedQuote = error {
                    // NOTE: parsing resumes on the line after the row's first line, so a row whose
                    // earlier quoted field spans lines may resume inside that field; the lines
                    // read from there are checked, and skipped, like any other row.
                    position = rowStart
                    line = rowLine
                    skipPastLineBreak(bytes, &position)
                }
            }
        }
    }

    /// Throws the first problem of a parsed row: its length, its field count, then invalid UTF-8.
    private func check(_ bytes: UnsafeBufferPointer<UInt8>, rowStart: Int, rowEnd: Int, line rowLine: Int,
                       count: Int, expected: Int) throws {
        var contentEnd = rowEnd
        while contentEnd > rowStart, bytes[contentEnd - 1] == lineFeed || bytes[contentEnd - 1] == carriageReturn {
            contentEnd -= 1
        }
        let rowBytes = UnsafeBufferPointer(rebasing: bytes[rowStart..<contentEnd])
        if rowBytes.count > errors.maxLineBytes {
            throw CSVError.lineTooLong(file: fileName, line: rowLine, bytes: rowBytes.count,
                                       maximumBytes: errors.maxLineBytes, row: BadRowHint.excerpt(rowBytes))
        }
        if count != expected {
            throw CSVError.wrongFieldCount(file: fileName, line: rowLine, expected: expected, found: count,
                                           row: BadRowHint.excerpt(rowBytes))
        }

        // Most rows are ASCII, and an ASCII row needs no further UTF-8 check.
        guard rowBits >= 0x80 else { return }
        for field in 0..<count {
            let start = Int(rowStarts[field])
            let end = Int(rowEnds[field])
            if let problem = invalidUTF8(bytes, start, end, line: rowLine, column: columnName(field)) {
                throw problem
            }
        }
    }

    /// Returns an error if the field range is not valid UTF-8.
    private func invalidUTF8(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int,
                             line: Int, column: String) -> CSVError? {
        let field: UnsafeBufferPointer<UInt8>
        if start >= fileBytes {
            return unescaped[(start - fileBytes)..<(end - fileBytes)].withUnsafeBufferPointer {
                invalidUTF8($0, 0, $0.count, line: line, column: column)
            }
        }
        field = UnsafeBufferPointer(rebasing: bytes[start..<end])
        if String(validating: field, as: UTF8.self) != nil { return nil }
        return CSVError.invalidUTF8(file: fileName, line: line, column: column, value: BadRowHint.excerpt(field))
    }

    /// Returns the header name of field `index`, or its 1-based position when the header is not read yet
    /// or the row has more fields than the header.
    private func columnName(_ index: Int) -> String {
        if let header, index < header.count { return header[index] }
        return "column \(index + 1)"
    }

    /// Returns the offset of the next comma, CR or LF at or after `start`, or the end of the bytes.
    private func unquotedFieldEnd(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var index = start
        while index < bytes.count, bytes[index] != comma, bytes[index] != lineFeed, bytes[index] != carriageReturn {
            index += 1
        }
        return index
    }

    /// Moves `position` past the next LF, CRLF or lone CR, or to the end, and counts the line.
    private mutating func skipPastLineBreak(_ bytes: UnsafeBufferPointer<UInt8>, _ position: inout Int) {
        while position < bytes.count, bytes[position] != lineFeed, bytes[position] != carriageReturn {
            position += 1
        }
        guard position < bytes.count else { return }
        if bytes[position] == carriageReturn, position + 1 < bytes.count, bytes[position + 1] == lineFeed {
            position += 1
        }
        position += 1
        line += 1
    }

    /// Parses one row starting at `position`, appends its field ranges, and returns the field
    /// count; `position` ends after the row's line break.
    private mutating func parseRow(_ bytes: UnsafeBufferPointer<UInt8>, _ position: inout Int) throws -> Int {
        let end = bytes.count
        let base = bytes.baseAddress!
        var count = 0
        rowBits = 0
        rowStarts.truncate(to: 0)
        rowEnds.truncate(to: 0)
        while true {
            if position < end, base[position] == quote {
                try parseQuotedField(bytes, &position, field: count)
            } else {
                let start = position
                var bits: UInt8 = 0
                while position < end {
                    let byte = base[position]
                    bits |= byte
                    // All four special bytes are below 64, so one shift of a mask tests them.
                    if byte < 64, (specialBytes >> UInt64(byte)) & 1 != 0 {
                        if byte != quote { break }
                        let error = CSVError.unexpectedQuote(
                            file: fileName, line: line, column: columnName(count),
                            value: BadRowHint.excerpt(UnsafeBufferPointer(rebasing: bytes[start..<unquotedFieldEnd(bytes, from: start)])),
                            detail: "a quote inside an unquoted field; enclose the whole field in quotes and double the inner quote")
                        skipPastLineBreak(bytes, &position)
                        throw error
                    }
                    position += 1
                }
                rowBits |= bits
                rowStarts.append(UInt32(start))
                rowEnds.append(UInt32(position))
            }
            count += 1

            if position >= end { return count }
            let byte = bytes[position]
            position += 1
            if byte == comma { continue }
            if byte == carriageReturn, position < end, bytes[position] == lineFeed {
                position += 1
            }
            line += 1
            return count
        }
    }

    private mutating func parseQuotedField(_ bytes: UnsafeBufferPointer<UInt8>, _ position: inout Int,
                                           field: Int) throws {
        let end = bytes.count
        let openingLine = line
        let openingPosition = position
        position += 1
        let contentStart = position
        var hasDoubledQuote = false
        while true {
            guard position < end else {
                throw CSVError.unbalancedQuote(
                    file: fileName, line: openingLine, column: columnName(field),
                    value: BadRowHint.excerpt(UnsafeBufferPointer(rebasing: bytes[openingPosition..<end])))
            }
            let byte = bytes[position]
            rowBits |= byte
            if byte == quote {
                if position + 1 < end, bytes[position + 1] == quote {
                    hasDoubledQuote = true
                    position += 2
                    continue
                }
                break
            }
            if byte == lineFeed || (byte == carriageReturn && !(position + 1 < end && bytes[position + 1] == lineFeed)) {
                line += 1
            }
            position += 1
        }
        let contentEnd = position
        position += 1

        if position < end {
            let next = bytes[position]
            if next != comma && next != lineFeed && next != carriageReturn {
                let error = CSVError.unexpectedQuote(
                    file: fileName, line: line, column: columnName(field),
                    value: BadRowHint.excerpt(UnsafeBufferPointer(rebasing: bytes[openingPosition..<end])),
                    detail: "text after the closing quote of a field; expected a comma or a line break")
                skipPastLineBreak(bytes, &position)
                throw error
            }
        }

        if hasDoubledQuote {
            let start = fileBytes + unescaped.count
            var index = contentStart
            while index < contentEnd {
                unescaped.append(bytes[index])
                // Each `""` pair contributes one quote.
                index += bytes[index] == quote ? 2 : 1
            }
            rowStarts.append(UInt32(start))
            rowEnds.append(UInt32(fileBytes + unescaped.count))
        } else {
            rowStarts.append(UInt32(contentStart))
            rowEnds.append(UInt32(contentEnd))
        }
    }

    /// Whether only CR and LF bytes remain from `position` to the end.
    private func isTrailingLineBreaks(_ bytes: UnsafeBufferPointer<UInt8>, from position: Int) -> Bool {
        var index = position
        while index < bytes.count {
            if bytes[index] != lineFeed && bytes[index] != carriageReturn { return false }
            index += 1
        }
        return true
    }

    /// Returns the text of a field range, reading unescaped fields from `unescaped`.
    private func text(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> String {
        if start >= fileBytes {
            return String(decoding: unescaped[(start - fileBytes)..<(end - fileBytes)], as: UTF8.self)
        }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }
}
