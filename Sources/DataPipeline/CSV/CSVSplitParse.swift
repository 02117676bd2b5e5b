/// A parse of one CSV file in two pieces that can run on two threads: the rows before the
/// first line break after the middle of the file (or another chosen offset), and the rows from
/// there on.
///
/// The second piece starts where a line starts, which is a row start only if no quoted field
/// spans it, and it counts lines from 1. So it is used only when the first piece stops exactly
/// where the second began and the second had no problem at all: no error, no skipped row, no
/// unescaped field. Otherwise the first piece's parser goes on to the end of the file, so the
/// table, errors and line numbers are always those of one sequential parse.
///
/// Usage: `init` parses the header, then `parseFirst()` and `parseSecond()` may run
/// concurrently, and `table(first:second:)` joins their results.
struct CSVSplitParse: Sendable {
    /// Files smaller than this are parsed in one piece; threads cost more than they save there.
    static let defaultMinimumSplitBytes = 1 << 20

    let storage: ByteStorage
    /// The parser after the header, shared as the starting state of both pieces.
    private let headerParser: CSVParser
    /// The byte offset at which the second piece starts, `nil` for a parse in one piece.
    let split: Int?

    /// Parses the header of the CSV text in `storage` and picks where the second piece starts:
    /// at the first line start after `firstPieceBytes` (default: half the file).
    init(storage: ByteStorage, fileName: String, errors: BadRowConfig, columns: Set<String>?,
         minimumSplitBytes: Int = defaultMinimumSplitBytes, firstPieceBytes: Int? = nil) throws {
        let bytes = storage.bytes
        guard bytes.count <= CSVReader.maximumFileBytes else {
            throw CSVError.tooLarge(file: fileName, bytes: bytes.count, maximumBytes: CSVReader.maximumFileBytes)
        }
        var parser = CSVParser(fileName: fileName, fileBytes: bytes.count, errors: errors, columns: columns)
        try parser.parseHeader(bytes)
        self.storage = storage
        headerParser = parser

        var split: Int?
        if parser.header != nil, bytes.count >= minimumSplitBytes {
            var index = max(parser.position, min(firstPieceBytes ?? bytes.count / 2, bytes.count))
            while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
            if index + 1 < bytes.count { split = index + 1 }
        }
        self.split = split
    }

    /// Parses the rows before the split (all rows for a parse in one piece).
    func parseFirst() throws -> CSVParser {
        var parser = headerParser
        try parser.parseRows(storage.bytes, until: split ?? storage.bytes.count)
        return parser
    }

    /// Parses the rows from the split on. Returns `nil` when there is no split or the piece had
    /// any problem, and `table` then parses those rows again in sequence.
    func parseSecond() -> CSVParser? {
        guard let split else { return nil }
        var parser = CSVParser(continuing: headerParser, from: split)
        do {
            try parser.parseRows(storage.bytes, until: storage.bytes.count)
        } catch {
            return nil
        }
        guard parser.skippedRows.total == 0, parser.unescaped.isEmpty else { return nil }
        return parser
    }

    /// Returns the table of both pieces; throws the first error of a sequential parse.
    func table(first: CSVParser, second: CSVParser?) throws -> CSVTable {
        var parser = first
        if let second, parser.position == split {
            parser.append(second)
        } else {
            try parser.parseRows(storage.bytes, until: storage.bytes.count)
        }
        return try parser.table(storage: storage)
    }
}
