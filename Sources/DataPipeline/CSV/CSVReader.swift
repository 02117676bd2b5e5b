import Foundation

/// An RFC 4180 CSV parser working on bytes: comma separators, fields optionally enclosed in
/// double quotes, `""` for a quote inside a quoted field, commas and line breaks inside quoted
/// fields, LF, CRLF or lone CR line ends, and an optional UTF-8 byte-order mark.
///
/// The first line is the header. Every data row must have as many fields as the header, and a
/// quote may only open a field (a stray quote is an error, not text). Line breaks after the last
/// row are ignored. Parsing is O(file bytes) with one pass and no per-field allocation.
public enum CSVReader {
    /// The largest file the reader accepts: field offsets are 32-bit and unescaped quoted fields
    /// are appended after the file bytes, which can double the storage in the worst case.
    public static let maximumFileBytes = Int(UInt32.max / 2)

    /// Reads and parses the file at `path`; errors name the file as `fileName` (default: `path`).
    public static func read(path: String, fileName: String? = nil) throws -> CSVTable {
        let name = fileName ?? path
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw CSVError.unreadable(file: name, reason: error.localizedDescription)
        }
        return try parse(bytes: [UInt8](data), fileName: name)
    }

    /// Parses CSV text held in `bytes`.
    public static func parse(bytes: [UInt8], fileName: String) throws -> CSVTable {
        guard bytes.count <= maximumFileBytes else {
            throw CSVError.tooLarge(file: fileName, bytes: bytes.count, maximumBytes: maximumFileBytes)
        }
        var parser = Parser(fileName: fileName, fileBytes: bytes.count)
        try bytes.withUnsafeBufferPointer { try parser.run($0) }
        guard let header = parser.header else { throw CSVError.empty(file: fileName) }

        var storage = bytes
        storage.append(contentsOf: parser.unescaped)
        return CSVTable(fileName: fileName, header: header, rowCount: parser.rowLines.count,
                        storage: storage, fieldStarts: parser.fieldStarts, fieldEnds: parser.fieldEnds,
                        rowLines: parser.rowLines)
    }

    /// Parses CSV text given as a string (for tests and small inputs).
    public static func parse(text: String, fileName: String) throws -> CSVTable {
        try parse(bytes: Array(text.utf8), fileName: fileName)
    }
}

private let comma = UInt8(ascii: ",")
private let quote = UInt8(ascii: "\"")
private let lineFeed = UInt8(ascii: "\n")
private let carriageReturn = UInt8(ascii: "\r")

/// The parser state for one file. Offsets of unescaped fields point past the file bytes
/// (`fileBytes + position in unescaped`), where `parse` appends `unescaped`.
private struct Parser {
    let fileName: String
    let fileBytes: Int
    var header: [String]?
    var fieldStarts: [UInt32] = []
    var fieldEnds: [UInt32] = []
    var rowLines: [UInt32] = []
    var unescaped: [UInt8] = []
    var line = 1

    init(fileName: String, fileBytes: Int) {
        self.fileName = fileName
        self.fileBytes = fileBytes
        // A rough guess of 20 fields of 8 bytes; it only saves reallocations.
        fieldStarts.reserveCapacity(fileBytes / 8)
        fieldEnds.reserveCapacity(fileBytes / 8)
    }

    mutating func run(_ bytes: UnsafeBufferPointer<UInt8>) throws {
        var position = 0
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            position = 3
        }
        if position >= bytes.count { return }

        // The header goes through the same field parser, then its fields become names.
        var count = try parseRow(bytes, &position)
        var names: [String] = []
        for index in (fieldStarts.count - count)..<fieldStarts.count {
            names.append(text(bytes, Int(fieldStarts[index]), Int(fieldEnds[index])))
        }
        fieldStarts.removeAll(keepingCapacity: true)
        fieldEnds.removeAll(keepingCapacity: true)
        unescaped.removeAll(keepingCapacity: true)
        var seen = Set<String>()
        for name in names where !seen.insert(name).inserted {
            throw CSVError.duplicateColumn(file: fileName, column: name)
        }
        header = names

        let expected = names.count
        while position < bytes.count {
            if isTrailingLineBreaks(bytes, from: position) { break }
            let rowLine = line
            count = try parseRow(bytes, &position)
            if count != expected {
                throw CSVError.wrongFieldCount(file: fileName, line: rowLine, expected: expected, found: count)
            }
            rowLines.append(UInt32(rowLine))
        }
    }

    /// Parses one row starting at `position`, appends its field ranges, and returns the field
    /// count; `position` ends after the row's line break.
    private mutating func parseRow(_ bytes: UnsafeBufferPointer<UInt8>, _ position: inout Int) throws -> Int {
        let end = bytes.count
        var count = 0
        while true {
            if position < end, bytes[position] == quote {
                try parseQuotedField(bytes, &position)
            } else {
                let start = position
                while position < end {
                    let byte = bytes[position]
                    if byte == comma || byte == lineFeed || byte == carriageReturn { break }
                    if byte == quote {
                        throw CSVError.unexpectedQuote(
                            file: fileName, line: line,
                            detail: "a quote inside an unquoted field; enclose the whole field in quotes and double the inner quote")
                    }
                    position += 1
                }
                fieldStarts.append(UInt32(start))
                fieldEnds.append(UInt32(position))
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

    private mutating func parseQuotedField(_ bytes: UnsafeBufferPointer<UInt8>, _ position: inout Int) throws {
        let end = bytes.count
        let openingLine = line
        position += 1
        let contentStart = position
        var hasDoubledQuote = false
        while true {
            guard position < end else {
                throw CSVError.unbalancedQuote(file: fileName, line: openingLine)
            }
            let byte = bytes[position]
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
                throw CSVError.unexpectedQuote(
                    file: fileName, line: line,
                    detail: "text after the closing quote of a field; expected a comma or a line break")
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
            fieldStarts.append(UInt32(start))
            fieldEnds.append(UInt32(fileBytes + unescaped.count))
        } else {
            fieldStarts.append(UInt32(contentStart))
            fieldEnds.append(UInt32(contentEnd))
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
