private let comma = UInt8(ascii: ",")
private let quote = UInt8(ascii: "\"")
private let lineFeed = UInt8(ascii: "\n")
private let carriageReturn = UInt8(ascii: "\r")
/// The byte 45 (one more than ',', the largest special byte) and the high bit, in every byte of
/// a word, for finding the first byte below 45 among eight.
private let lowBytes: UInt64 = 0x2D2D_2D2D_2D2D_2D2D
private let highBits: UInt64 = 0x8080_8080_8080_8080
/// Bit b set for each byte b that ends an unquoted field or is a stray quote.
private let specialBytes: UInt64 = (1 << UInt64(comma)) | (1 << UInt64(quote)) | (1 << UInt64(lineFeed))
    | (1 << UInt64(carriageReturn))

/// The parser state for one file or one piece of it. Offsets of unescaped fields point past
/// the file bytes (`fileBytes + position in unescaped`), where `table` appends `unescaped`.
///
/// A row's field offsets go to the small `rowStarts` and `rowEnds` first, where the checks read
/// all of them. Only a row that passes copies its kept fields to `fieldStarts` and `fieldEnds`.
struct CSVParser {
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
    /// The field offsets of an appended piece, see `append`.
    private var appendedFields: (starts: OffsetBuffer, ends: OffsetBuffer)?
    var unescaped: [UInt8] = []
    /// Columns whose fields are kept, in file order.
    var keptColumns: [Int] = []
    /// The byte offset at which parsing continues: after the header, then after the last row parsed.
    var position = 0
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

    /// Returns a parser for the rows from `position` on, with the header of `first` and lines
    /// counted from 1 there.
    init(continuing first: CSVParser, from position: Int) {
        self.init(fileName: first.fileName, fileBytes: first.fileBytes, errors: first.errors, columns: first.columns)
        header = first.header
        slotOfColumn = first.slotOfColumn
        keptColumns = first.keptColumns
        self.position = position
    }

    /// Parses the optional byte-order mark and the header; leaves `header` nil for a file of
    /// line breaks only.
    mutating func parseHeader(_ bytes: UnsafeBufferPointer<UInt8>) throws {
        var cursor = 0
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            cursor = 3
        }
        if isTrailingLineBreaks(bytes, from: cursor) { return }

        // The header goes through the same field parser, then its fields become names. A bad
        // header is never skipped, because no row could be read without it.
        let count = try parseRow(bytes, &cursor)
        position = cursor
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
        for (column, name) in names.enumerated() {
            if columns?.contains(name) ?? true {
                slotOfColumn.append(keptColumns.count)
                keptColumns.append(column)
            } else {
                slotOfColumn.append(-1)
            }
        }
    }

    /// Parses the rows that start at `position` or later and before `limit`; the last may end
    /// after `limit`. `position` ends after the last row parsed.
    mutating func parseRows(_ bytes: UnsafeBufferPointer<UInt8>, until limit: Int) throws {
        precondition(appendedFields == nil, "no rows can be parsed after a piece was appended")
        guard let expected = header?.count else { return }
        // A local copy, because `parseRow` takes it inout while it also mutates the parser.
        var cursor = position
        defer { position = cursor }
        while cursor < limit {
            if isTrailingLineBreaks(bytes, from: cursor) {
                cursor = bytes.count
                break
            }
            let rowStart = cursor
            let rowLine = line
            let unescapedMark = unescaped.count
            do {
                let count = try parseRow(bytes, &cursor)
                try check(bytes, rowStart: rowStart, rowEnd: cursor, line: rowLine, count: count, expected: expected)
                rowLines.append(UInt32(rowLine))
                keptColumns.withUnsafeBufferPointer { kept in
                    fieldStarts.append(rowStarts, at: kept)
                    fieldEnds.append(rowEnds, at: kept)
                }
            } catch let error as CSVError {
                guard let kind = error.badRowKind, errors[kind] == .skip else { throw error }
                skippedRows[kind] += 1
                unescaped.removeSubrange(unescapedMark...)
                if case .unbalancedQuote = error {
                    // NOTE: parsing resumes on the line after the row's first line, so a row whose
                    // earlier quoted field spans lines may resume inside that field; the lines
                    // read from there are checked, and skipped, like any other row.
                    cursor = rowStart
                    line = rowLine
                    skipPastLineBreak(bytes, &cursor)
                }
            }
        }
    }

    /// Appends the rows of `next`, which parsed the rows from this parser's `position` on, as if
    /// this parser had read them. `next` must have no skipped rows and no unescaped fields.
    ///
    /// The field offsets of `next` stay in its buffers and become the table's second segment,
    /// because copying them would write as many fresh pages as `next` already filled. So this
    /// is the last step before `table`, and at most one piece can be appended.
    mutating func append(_ next: CSVParser) {
        precondition(next.skippedRows.total == 0 && next.unescaped.isEmpty,
                     "only a piece without skipped rows or unescaped fields can be appended")
        precondition(appendedFields == nil, "a second piece was already appended")
        let lineOffset = UInt32(line - 1)
        for index in 0..<next.rowLines.count { rowLines.append(next.rowLines[index] + lineOffset) }
        appendedFields = (next.fieldStarts, next.fieldEnds)
        line += next.line - 1
        position = next.position
    }

    /// Returns the table of the parsed rows, reading its fields from `storage`.
    func table(storage: ByteStorage) throws -> CSVTable {
        guard let header else { throw CSVError.empty(file: fileName) }
        let tableStorage = unescaped.isEmpty ? storage : ByteStorage(concatenating: storage.bytes, unescaped)
        return CSVTable(fileName: fileName, header: header, rowCount: rowLines.count, storage: tableStorage,
                        slotOfColumn: slotOfColumn, fieldStarts: fieldStarts, fieldEnds: fieldEnds,
                        appendedFields: appendedFields, rowLines: rowLines, skippedRows: skippedRows)
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
                var wordBits: UInt64 = 0
                while position < end {
                    // Eight bytes at a time until one is at most ',' (44), the largest special
                    // byte. The byte loop below looks at that byte and goes on from there.
                    if end - position >= 8 {
                        let word = UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self)
                        let below = (word &- lowBytes) & ~word & highBits
                        if below == 0 {
                            wordBits |= word
                            position += 8
                            continue
                        }
                        // Borrows only move up, so the lowest flagged byte is a true one.
                        let plain = below.trailingZeroBitCount / 8
                        wordBits |= word & ((1 << UInt64(plain * 8)) &- 1)
                        position += plain
                    }
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
                if wordBits & highBits != 0 { bits |= 0x80 }
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
