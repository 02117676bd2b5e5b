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
    /// A row starting at `line` has `found` fields instead of the header's `expected`.
    case wrongFieldCount(file: String, line: Int, expected: Int, found: Int)
    /// A quoted field opened at `line` never closes.
    case unbalancedQuote(file: String, line: Int)
    /// A quote sits inside an unquoted field, or text follows a closing quote, at `line`.
    case unexpectedQuote(file: String, line: Int, detail: String)

    /// The 1-based line of the problem, if it has one.
    public var line: Int? {
        switch self {
        case .wrongFieldCount(_, let line, _, _), .unbalancedQuote(_, let line),
             .unexpectedQuote(_, let line, _):
            return line
        case .unreadable, .empty, .tooLarge, .duplicateColumn:
            return nil
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
        case let .wrongFieldCount(file, line, expected, found):
            return "\(file): line \(line): expected \(expected) fields as in the header, found \(found)"
        case let .unbalancedQuote(file, line):
            return "\(file): line \(line): a quoted field opened here is never closed; expected a closing \""
        case let .unexpectedQuote(file, line, detail):
            return "\(file): line \(line): \(detail)"
        }
    }
}
