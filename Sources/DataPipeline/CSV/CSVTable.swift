/// A parsed CSV file: the header names and the fields of every data row, kept as byte ranges of
/// one storage buffer so no `String` is made per field.
///
/// Only the kept columns have fields (all columns unless the parse named a selection); every
/// column was still checked as the row policies require. Kept fields are stored row-major,
/// `keptColumnCount` per row. An empty field is a missing value.
public struct CSVTable: Sendable {
    /// File name used in error messages.
    public let fileName: String
    /// Column names from the first line, in file order.
    public let header: [String]
    /// Number of data rows (the header excluded).
    public let rowCount: Int

    /// The file bytes, followed by the unescaped text of quoted fields that contained `""`.
    let storage: ByteStorage
    /// Position of each column among the kept ones, -1 for a column left out, `[columnCount]`.
    let slotOfColumn: [Int]
    /// Number of kept columns.
    let keptColumnCount: Int
    /// Start and end offsets into `storage` of each kept field, `[rowCount · keptColumnCount]`.
    /// The first `fieldStarts.count` entries are in `fieldStarts` and `fieldEnds`, the rest in
    /// `appendedFields`.
    let fieldStarts: OffsetBuffer
    let fieldEnds: OffsetBuffer
    /// The offsets of the rows that a second parse piece read, kept in that piece's buffers
    /// instead of copied after the first piece's. `nil` for a table parsed in one piece.
    let appendedFields: (starts: OffsetBuffer, ends: OffsetBuffer)?
    /// 1-based file line where each data row starts, `[rowCount]`.
    let rowLines: OffsetBuffer
    /// Rows left out by a `skip` policy, per kind; they are not in `rowCount`.
    public let skippedRows: BadRowCounts

    init(fileName: String, header: [String], rowCount: Int, storage: ByteStorage, slotOfColumn: [Int],
         fieldStarts: OffsetBuffer, fieldEnds: OffsetBuffer,
         appendedFields: (starts: OffsetBuffer, ends: OffsetBuffer)? = nil, rowLines: OffsetBuffer,
         skippedRows: BadRowCounts = BadRowCounts()) {
        precondition(slotOfColumn.count == header.count,
                     "expected a slot for each of \(header.count) columns, got \(slotOfColumn.count)")
        self.fileName = fileName
        self.header = header
        self.rowCount = rowCount
        self.storage = storage
        self.slotOfColumn = slotOfColumn
        self.keptColumnCount = slotOfColumn.filter { $0 >= 0 }.count
        self.fieldStarts = fieldStarts
        self.fieldEnds = fieldEnds
        self.appendedFields = appendedFields
        let entries = fieldStarts.count + (appendedFields?.starts.count ?? 0)
        precondition(entries == rowCount * keptColumnCount,
                     "expected \(rowCount) rows of \(keptColumnCount) kept fields, got \(entries) field offsets")
        self.rowLines = rowLines
        self.skippedRows = skippedRows
    }

    /// Number of columns, equal in every row.
    public var columnCount: Int { header.count }

    /// Returns the index of the column named `name`, or `nil` if the header lacks it.
    public func columnIndex(named name: String) -> Int? {
        header.firstIndex(of: name)
    }

    /// Whether the fields of `column` were kept by the parse.
    public func isKept(column: Int) -> Bool {
        precondition(column >= 0 && column < columnCount, "column \(column) out of range 0..<\(columnCount)")
        return slotOfColumn[column] >= 0
    }

    /// Returns the kept position of `column`; reading a column the parse left out is a caller error.
    private func slot(_ column: Int) -> Int {
        precondition(column >= 0 && column < columnCount, "column \(column) out of range 0..<\(columnCount)")
        let slot = slotOfColumn[column]
        precondition(slot >= 0, "column \(header[column]) of \(fileName) was not kept when parsing; name it in the column selection")
        return slot
    }

    /// Returns the 1-based file line on which data row `row` starts.
    public func lineNumber(ofRow row: Int) -> Int {
        precondition(row >= 0 && row < rowCount, "row \(row) out of range 0..<\(rowCount)")
        return Int(rowLines[row])
    }

    /// Calls `body` with the bytes of one field; the buffer is only valid inside `body`.
    public func withFieldBytes<R>(row: Int, column: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let range = fieldRange(row: row, column: column)
        return try body(UnsafeBufferPointer(rebasing: storage.bytes[range]))
    }

    /// Returns the text of one field, or `nil` if it is empty (missing).
    public func field(row: Int, column: Int) -> String? {
        let range = fieldRange(row: row, column: column)
        if range.isEmpty { return nil }
        return String(decoding: storage.bytes[range], as: UTF8.self)
    }

    /// Returns the byte range of one field in the storage buffer.
    func fieldRange(row: Int, column: Int) -> Range<Int> {
        precondition(row >= 0 && row < rowCount, "row \(row) out of range 0..<\(rowCount)")
        let index = row * keptColumnCount + slot(column)
        let firstCount = fieldStarts.count
        if index < firstCount { return Int(fieldStarts[index])..<Int(fieldEnds[index]) }
        return Int(appendedFields!.starts[index - firstCount])..<Int(appendedFields!.ends[index - firstCount])
    }

    /// Calls `body` once per row with the bytes of the field in `column`, which are only valid
    /// inside `body`; faster than `withFieldBytes` in a loop because the storage is pinned once.
    public func forEachField(inColumn column: Int,
                             _ body: (_ row: Int, _ bytes: UnsafeBufferPointer<UInt8>) throws -> Void) rethrows {
        let width = keptColumnCount
        let slot = slot(column)
        try withExtendedLifetime(self) {
            let all = storage.bytes
            var segments = [(starts: fieldStarts.buffer, ends: fieldEnds.buffer)]
            if let appendedFields { segments.append((appendedFields.starts.buffer, appendedFields.ends.buffer)) }
            var row = 0
            for (starts, ends) in segments {
                // Every segment contains whole rows, so the column's slot is the same in each.
                var index = slot
                while index < starts.count {
                    let start = Int(starts[index])
                    let end = Int(ends[index])
                    try body(row, UnsafeBufferPointer(start: all.baseAddress! + start, count: end - start))
                    index += width
                    row += 1
                }
            }
        }
    }

    /// Calls `body` with read access to every field that skips the per-call range checks and
    /// array pinning of `withFieldBytes`, for loops over many rows. The access is only valid
    /// inside `body`.
    func withFieldAccess<R>(_ body: (FieldAccess) throws -> R) rethrows -> R {
        try slotOfColumn.withUnsafeBufferPointer { slots in
            try withExtendedLifetime((storage, fieldStarts, fieldEnds, appendedFields?.starts, appendedFields?.ends)) {
                try body(FieldAccess(storage: storage.bytes, starts: fieldStarts.buffer, ends: fieldEnds.buffer,
                                     appendedStarts: appendedFields?.starts.buffer ?? UnsafeBufferPointer(start: nil, count: 0),
                                     appendedEnds: appendedFields?.ends.buffer ?? UnsafeBufferPointer(start: nil, count: 0),
                                     slotOfColumn: slots, keptColumnCount: keptColumnCount))
            }
        }
    }
}

/// Read access to the fields of a `CSVTable` whose arrays are pinned by `withFieldAccess`.
/// Rows and columns are checked only in debug builds, and only kept columns may be read.
struct FieldAccess {
    let storage: UnsafeBufferPointer<UInt8>
    /// Field offsets as in `CSVTable`: the first `starts.count` entries, then the appended ones.
    let starts: UnsafeBufferPointer<UInt32>
    let ends: UnsafeBufferPointer<UInt32>
    let appendedStarts: UnsafeBufferPointer<UInt32>
    let appendedEnds: UnsafeBufferPointer<UInt32>
    let slotOfColumn: UnsafeBufferPointer<Int>
    let keptColumnCount: Int

    /// Returns the bytes of one field of a kept column.
    @inline(__always)
    func bytes(row: Int, column: Int) -> UnsafeBufferPointer<UInt8> {
        let slot = slotOfColumn[column]
        assert(slot >= 0, "column \(column) was not kept when parsing")
        let index = row * keptColumnCount + slot
        let start: Int
        let end: Int
        if index < starts.count {
            start = Int(starts[index])
            end = Int(ends[index])
        } else {
            start = Int(appendedStarts[index - starts.count])
            end = Int(appendedEnds[index - starts.count])
        }
        return UnsafeBufferPointer(rebasing: storage[start..<end])
    }
}
