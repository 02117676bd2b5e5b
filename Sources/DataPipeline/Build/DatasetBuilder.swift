import Foundation

/// Builds an `EncodedDataset` from a parsed log and its side tables, in the order: resolve
/// columns, join, filter by scene, split, read labels and users, fit encoders on the training
/// rows, encode both splits.
public struct DatasetBuilder {
    public let config: DataConfig
    public let log: CSVTable
    /// Side tables in the order of `config.joins`.
    public let sideTables: [CSVTable]

    public init(config: DataConfig, log: CSVTable, sideTables: [CSVTable]) {
        precondition(sideTables.count == config.joins.count,
                     "expected \(config.joins.count) side tables as in the config, got \(sideTables.count)")
        self.config = config
        self.log = log
        self.sideTables = sideTables
    }

    /// Returns the names of every column the build reads from the log or a side table: scene,
    /// split, user, labels, join keys and feature columns. A table parsed with this selection
    /// builds the same dataset as one with all its columns.
    public static func columnsRead(config: DataConfig) -> Set<String> {
        var names: Set<String> = [config.scene.column, config.split.column, config.userColumn]
        names.formUnion(config.tasks)
        names.formUnion(config.joins.map(\.key))
        names.formUnion(config.features.map(\.columnName))
        return names
    }

    /// Where a feature's column was found.
    enum ColumnSource {
        case log(column: Int)
        case side(table: Int, column: Int)
    }

    public func build() throws -> EncodedDataset {
        var phaseSeconds = PreparationPhaseSeconds()
        return try build(phaseSeconds: &phaseSeconds)
    }

    /// Builds the dataset, adding the time of the join and encode phases to `phaseSeconds`.
    func build(phaseSeconds: inout PreparationPhaseSeconds) throws -> EncodedDataset {
        let started = Date()
        var stopwatch = PhaseStopwatch()
        var report = PreparationReport(logRows: log.rowCount + log.skippedRows.total)

        let sceneColumn = try logColumn(config.scene.column, role: "scene")
        let splitColumn = try logColumn(config.split.column, role: "split")
        let userColumn = try logColumn(config.userColumn, role: "user")
        let taskColumns = try config.tasks.map { try logColumn($0, role: "task") }
        let sources = try config.features.map { try source(of: $0) }
        // The joins and the scene and split columns each read the log on their own, so they run
        // on two threads. The joins' errors are still the first thrown, as in a sequential build.
        let (sideRowOfLogRow, (sceneRaw, split)) = try ParallelWork.both({ try joinSideTables() }, {
            (RawColumn(table: log, column: sceneColumn),
             numberColumn(source: .log(column: splitColumn), sideRowOfLogRow: [], emptyIsInvalid: true))
        })

        let scenes = try sceneIndices(sceneRaw, &report)
        var numberColumns = [split]
        for (index, feature) in config.features.enumerated() where feature.resolvedEncoding == .quantile {
            numberColumns.append(numberColumn(source: sources[index], sideRowOfLogRow: sideRowOfLogRow,
                                              emptyIsInvalid: false, firstToken: feature.firstToken))
        }
        let screening = try RowScreening(builder: self, scenes: scenes, sideRowOfLogRow: sideRowOfLogRow,
                                         taskColumns: taskColumns, numberColumns: numberColumns)
        try recordSkippedRows(screening.counts, &report)

        let (trainRows, testRows) = splitRows(split, scenes: scenes, skipped: screening.skipped, &report)
        report.trainRows = trainRows.count
        report.testRows = testRows.count
        phaseSeconds.join += stopwatch.lap()

        var uses = [FeatureMatrix.SourceUse(logRows: log.rowCount, trainRows: trainRows, testRows: testRows)]
        for (index, join) in config.joins.enumerated() {
            let use = FeatureMatrix.SourceUse(sideRowCount: sideTables[index].rowCount,
                                              sideRowOfLogRow: sideRowOfLogRow[index],
                                              trainRows: trainRows, testRows: testRows)
            report.missingJoinKeys[join.file] = use.missingTrain + use.missingTest
            uses.append(use)
        }

        // The labels and users of each split are the largest tasks, so they start first and the
        // features fill the cores around them. A train label error is thrown before a test one,
        // as in a sequential build.
        let rowsOfSplit = [trainRows, testRows]
        let outputs = ParallelWork.map(count: 2 + config.features.count) { task -> EncodeOutput in
            if task < 2 {
                return .split(try rowsWithoutFeatures(rowsOfSplit[task], scenes: scenes, taskColumns: taskColumns,
                                                      userColumn: userColumn))
            }
            let index = task - 2
            return .feature(encodeFeature(config.features[index], source: sources[index], scenes: scenes, uses: uses))
        }
        var train = try outputs[0].get().split
        var test = try outputs[1].get().split
        let features = try outputs[2...].map { try $0.get().feature }
        report.features = features.map(\.report)
        let tableRows = features.map(\.report.tableRows)
        let sourceRowCounts = uses.map(\.rowCount)
        let matrices = FeatureMatrix.matrices(splits: [trainRows, testRows], features: features,
                                              sideRowOfLogRow: sideRowOfLogRow, sourceRowCounts: sourceRowCounts)
        train.features = matrices[0]
        test.features = matrices[1]

        let schema = DatasetSchema(
            featureNames: config.features.map(\.name), tableRows: tableRows,
            embeddingDimensions: config.features.indices.map { config.embeddingDimension(ofFeature: $0) },
            taskNames: config.tasks, sceneValues: config.scene.values,
            sceneFeatureIndex: config.features.firstIndex { $0.resolvedEncoding == .scene })
        report.secondsTaken = Date().timeIntervalSince(started)
        phaseSeconds.encode += stopwatch.lap()
        return EncodedDataset(schema: schema, report: report, train: train, test: test)
    }

    // MARK: Columns and joins

    private func logColumn(_ name: String, role: String) throws -> Int {
        guard let index = log.columnIndex(named: name) else {
            throw DataError.missingColumn(column: name, role: role, searchedFiles: [log.fileName])
        }
        return index
    }

    private func source(of feature: FeatureConfig) throws -> ColumnSource {
        // The scene encoding reads the scene index, not a column.
        if feature.resolvedEncoding == .scene { return .log(column: -1) }
        let name = feature.columnName
        if let index = log.columnIndex(named: name) { return .log(column: index) }
        for (table, side) in sideTables.enumerated() {
            if let index = side.columnIndex(named: name) { return .side(table: table, column: index) }
        }
        throw DataError.missingColumn(column: name, role: "feature \"\(feature.name)\"",
                                      searchedFiles: [log.fileName] + sideTables.map(\.fileName))
    }

    /// Returns, per join, the side-table row of every log row, -1 where the key has no side row,
    /// `[joins][log rows]`.
    private func joinSideTables() throws -> [[Int32]] {
        var result: [[Int32]] = []
        for (join, side) in zip(config.joins, sideTables) {
            let logKey = try logColumn(join.key, role: "join key of \(join.file)")
            guard let sideKey = side.columnIndex(named: join.key) else {
                throw DataError.missingColumn(column: join.key, role: "join key", searchedFiles: [side.fileName])
            }

            // Side rows are interned in row order, so value id k is the k-th distinct key.
            let keys = RawColumn(table: side, column: sideKey)
            var sideRowOfKey = [Int32](repeating: -1, count: keys.values.count)
            for row in 0..<side.rowCount {
                let id = keys.ids[row]
                if id < 0 {
                    throw DataError.emptyKey(file: side.fileName, line: side.lineNumber(ofRow: row), column: join.key)
                }
                if sideRowOfKey[Int(id)] >= 0 {
                    throw DataError.duplicateKey(file: side.fileName, line: side.lineNumber(ofRow: row),
                                                 key: keys.values.text(id), firstLine: keys.firstLines[Int(id)])
                }
                sideRowOfKey[Int(id)] = Int32(row)
            }

            var sideRows = [Int32](repeating: -1, count: log.rowCount)
            log.forEachField(inColumn: logKey) { row, bytes in
                if let id = keys.values.lookup(bytes) { sideRows[row] = sideRowOfKey[Int(id)] }
            }
            result.append(sideRows)
        }
        return result
    }

    // MARK: Rows

    /// Returns the scene index of every log row from the interned scene column `raw`, -1 for
    /// rows dropped by the scene filter.
    private func sceneIndices(_ raw: RawColumn, _ report: inout PreparationReport) throws -> [Int32] {
        var indexOfValue = [Int32](repeating: -1, count: raw.values.count)
        for id in 0..<raw.values.count {
            if let index = config.scene.values.firstIndex(of: raw.values.text(Int32(id))) {
                indexOfValue[id] = Int32(index)
            }
        }

        var scenes = [Int32](repeating: -1, count: log.rowCount)
        var rowsPerScene = [Int](repeating: 0, count: config.scene.values.count)
        var droppedById = [Int](repeating: 0, count: raw.values.count)
        var droppedEmpty = 0
        for row in 0..<log.rowCount {
            let id = raw.ids[row]
            if id < 0 || indexOfValue[Int(id)] < 0, config.errors.unknownScene == .stop {
                throw DataError.unknownScene(file: log.fileName, line: log.lineNumber(ofRow: row),
                                             column: raw.column,
                                             value: BadRowHint.excerpt(id < 0 ? "" : raw.values.text(id)))
            }
            if id < 0 {
                droppedEmpty += 1
            } else if indexOfValue[Int(id)] < 0 {
                droppedById[Int(id)] += 1
            } else {
                scenes[row] = indexOfValue[Int(id)]
                rowsPerScene[Int(scenes[row])] += 1
            }
        }

        for id in 0..<raw.values.count where droppedById[id] > 0 {
            report.droppedBySceneValue[raw.values.text(Int32(id))] = droppedById[id]
        }
        if droppedEmpty > 0 { report.droppedBySceneValue[""] = droppedEmpty }
        report.rowsPerScene = rowsPerScene
        report.skippedRows.unknownScene = droppedEmpty + droppedById.reduce(0, +)
        return scenes
    }

    /// Returns the log rows of the train and test splits, in log order, without the rows that
    /// the scene filter dropped or the screening skipped.
    private func splitRows(_ split: RowScreening.NumberColumn, scenes: [Int32], skipped: [Bool],
                           _ report: inout PreparationReport) -> (train: [Int], test: [Int]) {
        var train: [Int] = []
        var test: [Int] = []
        for row in 0..<log.rowCount where scenes[row] >= 0 && !skipped[row] {
            guard let value = split.numbers[Int(split.raw.ids[row])] else {
                preconditionFailure("the screening leaves only rows with a valid split value")
            }
            if value <= config.split.trainMax {
                train.append(row)
            } else if value >= config.split.testMin {
                test.append(row)
            } else {
                report.droppedOutOfSplit += 1
            }
        }
        return (train, test)
    }

    /// Reads a numeric column of the log or of a side table for the screening.
    private func numberColumn(source: ColumnSource, sideRowOfLogRow: [[Int32]], emptyIsInvalid: Bool,
                              firstToken: String? = nil) -> RowScreening.NumberColumn {
        let raw: RawColumn
        var sideRows: [Int32]?
        switch source {
        case .log(let column):
            raw = RawColumn(table: log, column: column, firstToken: firstToken)
        case .side(let table, let column):
            raw = RawColumn(table: sideTables[table], column: column, firstToken: firstToken)
            sideRows = sideRowOfLogRow[table]
        }
        return RowScreening.NumberColumn(raw: raw, numbers: raw.numbers(), sideRows: sideRows,
                                         emptyIsInvalid: emptyIsInvalid)
    }

    /// Stores the skipped rows of every file in the report, then throws if a file's skipped rows
    /// exceed `maxSkippedShare` of its rows or no log row remains.
    private func recordSkippedRows(_ screened: BadRowCounts, _ report: inout PreparationReport) throws {
        for kind in BadRowKind.allCases where kind != .unknownScene {
            report.skippedRows[kind] = log.skippedRows[kind] + screened[kind]
        }
        let share = config.errors.maxSkippedShare
        if Double(report.skippedRows.total) > share * Double(report.logRows) {
            throw DataError.tooManySkippedRows(file: log.fileName, skipped: report.skippedRows,
                                               rows: report.logRows, maximumShare: share)
        }

        for (join, side) in zip(config.joins, sideTables) {
            report.skippedSideTableRows[join.file] = side.skippedRows
            let rows = side.rowCount + side.skippedRows.total
            if Double(side.skippedRows.total) > share * Double(rows) {
                throw DataError.tooManySkippedRows(file: side.fileName, skipped: side.skippedRows,
                                                   rows: rows, maximumShare: share)
            }
        }

        if log.rowCount == 0 {
            throw DataError.noRows(file: log.fileName, skipped: log.skippedRows.total)
        }
    }

    /// Returns a split with labels, scenes, users and row indices filled and no features yet.
    private func rowsWithoutFeatures(_ rows: [Int], scenes: [Int32], taskColumns: [Int],
                                     userColumn: Int) throws -> EncodedSplit {
        let taskCount = taskColumns.count
        var labels = [Float](repeating: 0, count: rows.count * taskCount)
        var users = [Int64](repeating: 0, count: rows.count)
        let invalid: (row: Int, column: Int)? = log.withFieldAccess { fields in
            labels.withUnsafeMutableBufferPointer { labels in
                for (task, column) in taskColumns.enumerated() {
                    for (index, row) in rows.enumerated() {
                        guard let label = FieldParsing.binaryLabel(fields.bytes(row: row, column: column)) else {
                            return (row, column)
                        }
                        labels[index * taskCount + task] = label
                    }
                }
                return nil
            }
        }
        if let invalid {
            throw DataError.invalidLabel(file: log.fileName, line: log.lineNumber(ofRow: invalid.row),
                                         column: log.header[invalid.column],
                                         value: log.field(row: invalid.row, column: invalid.column) ?? "")
        }

        log.withFieldAccess { fields in
            users.withUnsafeMutableBufferPointer { users in
                for (index, row) in rows.enumerated() {
                    let bytes = fields.bytes(row: row, column: userColumn)
                    if bytes.isEmpty {
                        users[index] = Int64.min
                    } else {
                        users[index] = FieldParsing.integer(bytes) ?? Int64(bitPattern: StableHash.fnv1a(bytes))
                    }
                }
            }
        }
        return EncodedSplit(count: rows.count, features: [], labels: labels,
                            scenes: Self.gather(scenes, at: rows), users: users, rowIndices: rows.map { Int64($0) })
    }

    // MARK: Features

    /// The result of one task of the encode phase: a split without its features, or one
    /// feature's codes.
    private enum EncodeOutput {
        case split(EncodedSplit)
        case feature(FeatureMatrix.FeatureCodes)

        var split: EncodedSplit {
            guard case .split(let split) = self else { preconditionFailure("expected a split, got a feature") }
            return split
        }

        var feature: FeatureMatrix.FeatureCodes {
            guard case .feature(let codes) = self else { preconditionFailure("expected a feature, got a split") }
            return codes
        }
    }

    private func encodeFeature(_ feature: FeatureConfig, source: ColumnSource, scenes: [Int32],
                               uses: [FeatureMatrix.SourceUse]) -> FeatureMatrix.FeatureCodes {
        if feature.resolvedEncoding == .scene {
            return FeatureMatrix.sceneCodes(feature, scenes: scenes, sceneCount: config.scene.values.count)
        }
        switch source {
        case .log(let column):
            let raw = RawColumn(table: log, column: column, firstToken: feature.firstToken)
            return FeatureMatrix.encode(feature, source: 0, raw: raw, use: uses[0])
        case .side(let table, let column):
            let raw = RawColumn(table: sideTables[table], column: column, firstToken: feature.firstToken)
            return FeatureMatrix.encode(feature, source: 1 + table, raw: raw, use: uses[1 + table])
        }
    }

    // MARK: Gathering

    /// Returns `values[rows[i]]` for every i, `[rows]`.
    static func gather(_ values: [Int32], at rows: [Int]) -> [Int32] {
        values.withUnsafeBufferPointer { values in
            rows.withUnsafeBufferPointer { rows in
                [Int32](unsafeUninitializedCapacity: rows.count) { output, initialized in
                    for (index, row) in rows.enumerated() { output[index] = values[row] }
                    initialized = rows.count
                }
            }
        }
    }
}
