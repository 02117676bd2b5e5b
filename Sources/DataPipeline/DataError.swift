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
    /// A log row's join key has no row in the side table and `missingJoinKey` is `stop`.
    case missingJoinKey(file: String, line: Int, column: String, value: String, sideTable: String)
    /// A log row's scene value is not in the config's list and `unknownScene` is `stop`.
    case unknownScene(file: String, line: Int, column: String, value: String)
    /// The log has a header but no data rows, after leaving out `skipped` bad rows.
    case noRows(file: String, skipped: Int)
    /// More rows of `file` were skipped than `maximumShare` of its `rows` allows.
    case tooManySkippedRows(file: String, skipped: BadRowCounts, rows: Int, maximumShare: Double)
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
            return "\(file): line \(line): label column \"\(column)\" has \"\(value)\"; expected 0 or 1; "
                + BadRowHint.text(.invalidLabel)
        case let .notNumeric(file, line, column, value):
            return "\(file): line \(line): column \"\(column)\" has \"\(value)\"; expected a finite number; "
                + BadRowHint.text(.invalidNumber)
        case let .missingSplitValue(file, line, column):
            return "\(file): line \(line): split column \"\(column)\" is empty; every kept row needs a value; "
                + BadRowHint.text(.invalidNumber)
        case let .missingJoinKey(file, line, column, value, sideTable):
            return "\(file): line \(line): key column \"\(column)\" has \"\(value)\", which is not in \(sideTable); "
                + "add the key to \(sideTable) or set data.errors.missingJoinKey to \"keep\" or \"skip\""
        case let .unknownScene(file, line, column, value):
            return "\(file): line \(line): scene column \"\(column)\" has \"\(value)\", which is not in data.scene.values; "
                + "add the value there or set data.errors.unknownScene to \"skip\""
        case let .noRows(file, skipped):
            let reason = skipped > 0 ? "all \(skipped) rows were skipped as bad rows" : "the file has a header but no data rows"
            return "\(file): \(reason); expected at least one row"
        case let .tooManySkippedRows(file, skipped, rows, maximumShare):
            return "\(file): skipped \(skipped.total) of \(rows) rows (\(skipped.summary)), more than "
                + "data.errors.maxSkippedShare (\(maximumShare)) allows; fix the file or raise data.errors.maxSkippedShare"
        case let .fileAccess(path, reason):
            return "\(path): \(reason)"
        case let .invalidPreparedFile(path, reason):
            return "\(path): invalid prepared data file: \(reason); delete it to have it rebuilt"
        }
    }
}
