/// A CSV file that could not be read or does not follow RFC 4180. Line numbers are 1-based
/// physical lines of the file, so a quoted field with newlines advances them.
public enum CSVError: Error, Equatable, CustomStringConvertible {
    /// The file could not be opened or read.
    case unreadable(file: String, reason: String)
    /// The file has no header line.
    case empty(file: String)
    /// The file is larger than the reader's offset type can address.
    case tooLarge(file: String, bytes: Int, maximumBytes: Int)
    /// Two header columns have the same name, so columns cannot be found by name.
    case duplicateColumn(file: String, column: String)
    /// A row starting at `line` has `found` fields instead of the header's `expected`; `row` is
    /// the start of its text.
    case wrongFieldCount(file: String, line: Int, expected: Int, found: Int, row: String)
    /// A quoted field of `column` opened at `line` never closes; `value` is the start of its text.
    case unbalancedQuote(file: String, line: Int, column: String, value: String)
    /// A quote sits inside an unquoted field, or text follows a closing quote, at `line`.
    case unexpectedQuote(file: String, line: Int, column: String, value: String, detail: String)
    /// A row starting at `line` has `bytes` bytes, more than `maximumBytes`; `row` is its start.
    case lineTooLong(file: String, line: Int, bytes: Int, maximumBytes: Int, row: String)
    /// A field is not valid UTF-8; `value` shows it with U+FFFD in place of the invalid bytes.
    case invalidUTF8(file: String, line: Int, column: String, value: String)

    /// The 1-based line of the problem, if it has one.
    public var line: Int? {
        switch self {
        case .wrongFieldCount(_, let line, _, _, _), .unbalancedQuote(_, let line, _, _),
             .unexpectedQuote(_, let line, _, _, _), .lineTooLong(_, let line, _, _, _),
             .invalidUTF8(_, let line, _, _):
            return line
        case .unreadable, .empty, .tooLarge, .duplicateColumn:
            return nil
        }
    }

    /// The `data.errors` kind of a row-level problem, `nil` for problems with the whole file.
    public var badRowKind: BadRowKind? {
        switch self {
        case .wrongFieldCount: return .fieldCount
        case .unbalancedQuote, .unexpectedQuote: return .unbalancedQuote
        case .lineTooLong: return .lineTooLong
        case .invalidUTF8: return .invalidUTF8
        case .unreadable, .empty, .tooLarge, .duplicateColumn: return nil
        }
    }

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "\(file): cannot read the file: \(reason)"
        case let .empty(file):
            return "\(file): the file is empty; expected a header line with column names"
        case let .tooLarge(file, bytes, maximumBytes):
            return "\(file): the file has \(bytes) bytes, more than the CSV reader's maximum of \(maximumBytes); split it"
        case let .duplicateColumn(file, column):
            return "\(file): line 1: column \"\(column)\" appears twice in the header; rename one"
        case let .wrongFieldCount(file, line, expected, found, row):
            return "\(file): line \(line): expected \(expected) fields as in the header, found \(found) in \"\(row)\"; "
                + BadRowHint.text(.fieldCount)
        case let .unbalancedQuote(file, line, column, value):
            return "\(file): line \(line), column \"\(column)\": the quoted field \"\(value)\" is never closed; "
                + "expected a closing \"; " + BadRowHint.text(.unbalancedQuote)
        case let .unexpectedQuote(file, line, column, value, detail):
            return "\(file): line \(line), column \"\(column)\": \(detail) in \"\(value)\"; " + BadRowHint.text(.unbalancedQuote)
        case let .lineTooLong(file, line, bytes, maximumBytes, row):
            return "\(file): line \(line): the row has \(bytes) bytes, more than data.errors.maxLineBytes (\(maximumBytes)), "
                + "starting \"\(row)\"; fix the row, raise data.errors.maxLineBytes or set data.errors.lineTooLong to \"skip\""
        case let .invalidUTF8(file, line, column, value):
            return "\(file): line \(line), column \"\(column)\": \"\(value)\" is not valid UTF-8; "
                + BadRowHint.text(.invalidUTF8)
        }
    }
}
