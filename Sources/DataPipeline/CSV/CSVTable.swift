/// A parsed CSV file: the header names and every data row's fields, kept as byte ranges of one
/// storage buffer so no `String` is made per field.
///
/// Fields are stored row-major, `columnCount` per row. An empty field is a missing value.
public struct CSVTable: Sendable {
    /// File name used in error messages.
    public let fileName: String
    /// Column names from the first line, in file order.
    public let header: [String]
    /// Number of data rows (the header excluded).
    public let rowCount: Int

    /// The file bytes followed by the unescaped text of quoted fields that contained `""`.
    let storage: [UInt8]
    /// Start and end offsets into `storage` of each field, `[rowCount · columnCount]`.
    let fieldStarts: OffsetBuffer
    let fieldEnds: OffsetBuffer
    /// 1-based file line where each data row starts, `[rowCount]`.
    let rowLines: OffsetBuffer
    /// Rows left out by a `skip` policy, per kind; they are not in `rowCount`.
    public let skippedRows: BadRowCounts

    init(fileName: String, header: [String], rowCount: Int, storage: [UInt8],
         fieldStarts: OffsetBuffer, fieldEnds: OffsetBuffer, rowLines: OffsetBuffer, skippedRows: BadRowCounts = BadRowCounts()) {
        self.fileName = fileName
        self.header = header
        self.rowCount = rowCount
        self.storage = storage
        self.fieldStarts = fieldStarts
        self.fieldEnds = fieldEnds
        self.rowLines = rowLines
        self.skippedRows = skippedRows
    }

    /// Number of columns, equal in every row.
    public var columnCount: Int { header.count }

    /// Returns the index of the column named `name`, or `nil` if the header lacks it.
    public func columnIndex(named name: String) -> Int? {
        header.firstIndex(of: name)
    }

    /// Returns the 1-based file line on which data row `row` starts.
    public func lineNumber(ofRow row: Int) -> Int {
        precondition(row >= 0 && row < rowCount, "row \(row) out of range 0..<\(rowCount)")
        return Int(rowLines[row])
    }

    /// Calls `body` with the bytes of one field; the buffer is only valid inside `body`.
    public func withFieldBytes<R>(row: Int, column: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let range = fieldRange(row: row, column: column)
        return try storage.withUnsafeBufferPointer { all in
            try body(UnsafeBufferPointer(rebasing: all[range]))
        }
    }

    /// Returns the text of one field, or `nil` if it is empty (missing).
    public func field(row: Int, column: Int) -> String? {
        let range = fieldRange(row: row, column: column)
        if range.isEmpty { return nil }
        return String(decoding: storage[range], as: UTF8.self)
    }

    /// Returns the byte range of one field in the storage buffer.
    func fieldRange(row: Int, column: Int) -> Range<Int> {
        precondition(row >= 0 && row < rowCount, "row \(row) out of range 0..<\(rowCount)")
        precondition(column >= 0 && column < columnCount, "column \(column) out of range 0..<\(columnCount)")
        let index = row * header.count + column
        return Int(fieldStarts[index])..<Int(fieldEnds[index])
    }

    /// Calls `body` once per row with the bytes of the field in `column`, which are only valid
    /// inside `body`; faster than `withFieldBytes` in a loop because the storage is pinned once.
    public func forEachField(inColumn column: Int,
                             _ body: (_ row: Int, _ bytes: UnsafeBufferPointer<UInt8>) throws -> Void) rethrows {
        precondition(column >= 0 && column < columnCount, "column \(column) out of range 0..<\(columnCount)")
        let width = header.count
        try storage.withUnsafeBufferPointer { all in
            let starts = fieldStarts.buffer
            let ends = fieldEnds.buffer
            var index = column
            for row in 0..<rowCount {
                let start = Int(starts[index])
                let end = Int(ends[index])
                try body(row, UnsafeBufferPointer(start: all.baseAddress! + start, count: end - start))
                index += width
            }
        }
    }

    /// Calls `body` with read access to every field that skips the per-call range checks and
    /// array pinning of `withFieldBytes`, for loops over many rows. The access is only valid
    /// inside `body`.
    func withFieldAccess<R>(_ body: (FieldAccess) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer { all in
            try withExtendedLifetime((fieldStarts, fieldEnds)) {
                try body(FieldAccess(storage: all, starts: fieldStarts.buffer, ends: fieldEnds.buffer,
                                     columnCount: header.count))
            }
        }
    }
}

/// Read access to the fields of a `CSVTable` whose arrays are pinned by `withFieldAccess`.
/// Rows and columns are checked only in debug builds.
struct FieldAccess {
    let storage: UnsafeBufferPointer<UInt8>
    let starts: UnsafeBufferPointer<UInt32>
    let ends: UnsafeBufferPointer<UInt32>
    let columnCount: Int

    /// Returns the bytes of one field.
    func bytes(row: Int, column: Int) -> UnsafeBufferPointer<UInt8> {
        let index = row * columnCount + column
        let start = Int(starts[index])
        return UnsafeBufferPointer(rebasing: storage[start..<Int(ends[index])])
    }
}
