/// One CSV column as distinct values plus a value id per row, so later steps parse, hash or
/// count each distinct value once.
struct RawColumn {
    let file: String
    let column: String
    let values: ValueInterner
    /// Value id of each table row, -1 where the field is empty, `[rows of the table]`.
    let ids: [Int32]
    /// File line where each distinct value first occurs, for error messages.
    let firstLines: [Int]

    /// Interns column `column` of `table`. With a `firstToken` separator only the bytes before its
    /// first occurrence are kept, and a field that starts with the separator counts as missing.
    init(table: CSVTable, column: Int, firstToken: String? = nil) {
        let separator = firstToken.map { Array($0.utf8) } ?? []
        var values = ValueInterner()
        var firstLines: [Int] = []
        let ids = [Int32](unsafeUninitializedCapacity: table.rowCount) { ids, initialized in
            table.withFieldAccess { fields in
                for row in 0..<table.rowCount {
                    let bytes = fields.bytes(row: row, column: column)
                    let kept = separator.isEmpty ? bytes : Self.prefix(bytes, before: separator)
                    guard !kept.isEmpty else {
                        ids[row] = -1
                        continue
                    }
                    let id = values.intern(kept)
                    ids[row] = id
                    if Int(id) == firstLines.count { firstLines.append(table.lineNumber(ofRow: row)) }
                }
            }
            initialized = table.rowCount
        }
        self.file = table.fileName
        self.column = table.header[column]
        self.values = values
        self.ids = ids
        self.firstLines = firstLines
    }

    /// Returns the number of every distinct value, `nil` where the text is not a finite number.
    func numbers() -> [Double?] {
        (0..<values.count).map { id -> Double? in
            guard let number = Double(values.text(Int32(id)).trimmingSpaces()), number.isFinite else { return nil }
            return number
        }
    }

    private static func prefix(_ bytes: UnsafeBufferPointer<UInt8>, before separator: [UInt8]) -> UnsafeBufferPointer<UInt8> {
        let width = separator.count
        guard bytes.count >= width else { return bytes }
        var start = 0
        while start + width <= bytes.count {
            var matches = true
            for offset in 0..<width where bytes[start + offset] != separator[offset] {
                matches = false
                break
            }
            if matches { return UnsafeBufferPointer(rebasing: bytes[0..<start]) }
            start += 1
        }
        return bytes
    }
}

extension String {
    /// Returns the text without leading and trailing ASCII spaces and tabs.
    func trimmingSpaces() -> Substring {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice.removeFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice.removeLast() }
        return slice
    }
}

/// Parsers for the per-row columns that are read once per row rather than interned.
enum FieldParsing {
    /// Returns 0 or 1 for the texts "0", "1", "0.0" and "1.0", otherwise `nil`.
    static func binaryLabel(_ bytes: UnsafeBufferPointer<UInt8>) -> Float? {
        let zero = UInt8(ascii: "0")
        let one = UInt8(ascii: "1")
        switch bytes.count {
        case 1:
            if bytes[0] == zero { return 0 }
            if bytes[0] == one { return 1 }
            return nil
        case 3:
            guard bytes[1] == UInt8(ascii: "."), bytes[2] == zero else { return nil }
            if bytes[0] == zero { return 0 }
            if bytes[0] == one { return 1 }
            return nil
        default:
            return nil
        }
    }

    /// Returns the decimal integer in `bytes` (optional leading minus), or `nil` if the text is
    /// empty, has another character or overflows Int64.
    static func integer(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        var index = 0
        var negative = false
        if bytes.count > 0, bytes[0] == UInt8(ascii: "-") {
            negative = true
            index = 1
        }
        guard index < bytes.count else { return nil }
        var value: Int64 = 0
        while index < bytes.count {
            let digit = Int64(bytes[index]) - Int64(UInt8(ascii: "0"))
            guard digit >= 0 && digit <= 9 else { return nil }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative ? shifted.subtractingReportingOverflow(digit)
                                             : shifted.addingReportingOverflow(digit)
            if overflow1 || overflow2 { return nil }
            value = next
            index += 1
        }
        return value
    }
}
