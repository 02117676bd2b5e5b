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

    /// Parses the CSV text in `storage`, a large file in two pieces on two threads; the table
    /// reads its fields from `storage` without a copy unless a quoted field needs unescaping.
    static func parse(storage: ByteStorage, fileName: String, errors: BadRowConfig = BadRowConfig(),
                      columns: Set<String>? = nil) throws -> CSVTable {
        let split = try CSVSplitParse(storage: storage, fileName: fileName, errors: errors, columns: columns)
        let (first, second) = try ParallelWork.both({ try split.parseFirst() }, { split.parseSecond() })
        return try split.table(first: first, second: second)
    }

    /// Parses CSV text given as a string (for tests and small inputs).
    public static func parse(text: String, fileName: String, errors: BadRowConfig = BadRowConfig()) throws -> CSVTable {
        try parse(bytes: Array(text.utf8), fileName: fileName, errors: errors)
    }
}
