/// The checks of single log rows that `data.errors` governs after parsing: join keys, labels,
/// and the numbers of the split column and of quantile features.
///
/// Each row's checks run in the order missing join key, label, split number, quantile numbers.
/// A row counts once, under its first problem whose policy is `skip`. The first problem in log
/// order whose policy is `stop` throws.
struct RowScreening {
    /// Whether each log row is left out, `[log rows]`.
    var skipped: [Bool]
    /// Left-out rows per kind.
    var counts = BadRowCounts()

    /// A column read as numbers: the distinct values and, per log row, which value it has.
    struct NumberColumn {
        let raw: RawColumn
        /// Number of each distinct value, `nil` where the text is not a finite number.
        let numbers: [Double?]
        /// Side table row of each log row when the column is in a side table, `[log rows]`.
        let sideRows: [Int32]?
        /// Whether an empty field is a problem (the split column) or a missing value (quantiles).
        let emptyIsInvalid: Bool

        /// Returns the distinct-value id of a log row's field, -1 when empty or not joined.
        func id(ofLogRow row: Int) -> Int32 {
            guard let sideRows else { return raw.ids[row] }
            let sideRow = sideRows[row]
            return sideRow < 0 ? -1 : raw.ids[Int(sideRow)]
        }
    }

    init(builder: DatasetBuilder, scenes: [Int32], sideRowOfLogRow: [[Int32]], taskColumns: [Int],
         numberColumns: [NumberColumn]) throws {
        let rowCount = builder.log.rowCount
        let policies = builder.config.errors
        var skipped = [Bool](repeating: false, count: rowCount)

        // The rows are checked in `pieceCount` ranges on the cores. Each range stops at its
        // first error, and an earlier range's error is thrown first. The error is therefore
        // that of the first bad row in log order, as in a sequential check.
        let pieceCounts = skipped.withUnsafeMutableBufferPointer { skipped in
            ParallelWork.map(count: Self.pieceCount) { piece -> BadRowCounts in
                var counts = BadRowCounts()
                for row in (rowCount * piece / Self.pieceCount)..<(rowCount * (piece + 1) / Self.pieceCount)
                where scenes[row] >= 0 {
                    guard let kind = try Self.firstProblem(row: row, builder: builder, sideRowOfLogRow: sideRowOfLogRow,
                                                           taskColumns: taskColumns, numberColumns: numberColumns) else {
                        continue
                    }
                    precondition(policies[kind] == .skip, "firstProblem returns only kinds whose policy is skip")
                    skipped[row] = true
                    counts[kind] += 1
                }
                return counts
            }
        }
        self.skipped = skipped
        for result in pieceCounts {
            let piece = try result.get()
            for kind in BadRowKind.allCases { counts[kind] += piece[kind] }
        }
    }

    /// Number of row ranges checked concurrently.
    static let pieceCount = 2

    /// Returns the kind of the row's first skipped problem, `nil` if it has none, or throws the
    /// first problem whose policy is `stop`.
    private static func firstProblem(row: Int, builder: DatasetBuilder, sideRowOfLogRow: [[Int32]],
                              taskColumns: [Int], numberColumns: [NumberColumn]) throws -> BadRowKind? {
        let log = builder.log
        let policies = builder.config.errors
        let line = log.lineNumber(ofRow: row)

        for (index, join) in builder.config.joins.enumerated() where sideRowOfLogRow[index][row] < 0 {
            switch policies.missingJoinKey {
            case .keep:
                continue
            case .skip:
                return .missingJoinKey
            case .stop:
                let column = log.columnIndex(named: join.key)!
                throw DataError.missingJoinKey(file: log.fileName, line: line, column: join.key,
                                               value: BadRowHint.excerpt(log.field(row: row, column: column) ?? ""),
                                               sideTable: join.file)
            }
        }

        for column in taskColumns {
            let label = log.withFieldBytes(row: row, column: column) { FieldParsing.binaryLabel($0) }
            guard label == nil else { continue }
            if policies.invalidLabel == .skip { return .invalidLabel }
            throw DataError.invalidLabel(file: log.fileName, line: line, column: log.header[column],
                                         value: BadRowHint.excerpt(log.field(row: row, column: column) ?? ""))
        }

        for column in numberColumns {
            let id = column.id(ofLogRow: row)
            if id < 0 {
                guard column.emptyIsInvalid else { continue }
                if policies.invalidNumber == .skip { return .invalidNumber }
                throw DataError.missingSplitValue(file: log.fileName, line: line, column: column.raw.column)
            }
            guard column.numbers[Int(id)] == nil else { continue }
            if policies.invalidNumber == .skip { return .invalidNumber }

            // A side-table value is reported where it is written, at its first line there.
            let valueLine = column.sideRows == nil ? line : column.raw.firstLines[Int(id)]
            throw DataError.notNumeric(file: column.raw.file, line: valueLine, column: column.raw.column,
                                       value: BadRowHint.excerpt(column.raw.values.text(id)))
        }
        return nil
    }
}
