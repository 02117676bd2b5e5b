/// A problem with the input files or a prepared file, naming the file, line and column involved.
public enum DataError: Error, Equatable, CustomStringConvertible {
    /// A column needed for `role` (a feature name, "scene", "split", "task", ...) is in none of
    /// the files searched.
    case missingColumn(column: String, role: String, searchedFiles: [String])
    /// Two rows of a side table have the same key.
    case duplicateKey(file: String, line: Int, key: String, firstLine: Int)
    /// A side-table row has an empty key, so no log row can join it.
    case emptyKey(file: String, line: Int, column: String)
    /// A task label is not 0 or 1.
    case invalidLabel(file: String, line: Int, column: String, value: String)
    /// A numeric column (split or quantile feature) has text that is not a finite number.
    case notNumeric(file: String, line: Int, column: String, value: String)
    /// The split column of a kept row is empty, so the row cannot be assigned.
    case missingSplitValue(file: String, line: Int, column: String)
    /// A file could not be read or written.
    case fileAccess(path: String, reason: String)
    /// A prepared binary file is truncated, corrupt or of another format version.
    case invalidPreparedFile(path: String, reason: String)

    public var description: String {
        switch self {
        case let .missingColumn(column, role, searchedFiles):
            return "column \"\(column)\" (\(role)) not found in \(searchedFiles.joined(separator: ", ")); check the column name in the data config"
        case let .duplicateKey(file, line, key, firstLine):
            return "\(file): line \(line): key \"\(key)\" already appears on line \(firstLine); side-table keys must be unique"
        case let .emptyKey(file, line, column):
            return "\(file): line \(line): key column \"\(column)\" is empty"
        case let .invalidLabel(file, line, column, value):
            return "\(file): line \(line): label column \"\(column)\" has \"\(value)\"; expected 0 or 1"
        case let .notNumeric(file, line, column, value):
            return "\(file): line \(line): column \"\(column)\" has \"\(value)\"; expected a finite number"
        case let .missingSplitValue(file, line, column):
            return "\(file): line \(line): split column \"\(column)\" is empty; every kept row needs a value"
        case let .fileAccess(path, reason):
            return "\(path): \(reason)"
        case let .invalidPreparedFile(path, reason):
            return "\(path): invalid prepared data file: \(reason); delete it to have it rebuilt"
        }
    }
}
