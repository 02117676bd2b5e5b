/// Counts from one build of a dataset, kept in the prepared file so a reused file reports the
/// same numbers as the build that wrote it.
public struct PreparationReport: Codable, Equatable, Sendable {
    /// Data rows in the log file (header excluded).
    public var logRows: Int
    /// Rows dropped because their scene value is not in the config's list, by value; an empty
    /// scene field counts under the empty string.
    public var droppedBySceneValue: [String: Int]
    /// Rows kept per scene index after the scene filter, `[S]`.
    public var rowsPerScene: [Int]
    /// Rows whose split value is above `trainMax` and below `testMin`.
    public var droppedOutOfSplit: Int
    /// Kept rows whose join key has no row in the side table, by side-table file name.
    public var missingJoinKeys: [String: Int]
    /// Log rows left out as bad rows, per kind (`data.errors`); `unknownScene` repeats the total
    /// of `droppedBySceneValue`.
    public var skippedRows: BadRowCounts
    /// Side-table rows left out by the CSV reader, per kind, by side-table file name; a log row
    /// that would have joined one of them has a missing join key.
    public var skippedSideTableRows: [String: BadRowCounts]
    /// Per-feature counts, in feature order.
    public var features: [FeatureReport]
    public var trainRows: Int
    public var testRows: Int
    /// Wall time of the build (reading, parsing and encoding), in seconds.
    public var secondsTaken: Double

    public init(logRows: Int = 0, droppedBySceneValue: [String: Int] = [:], rowsPerScene: [Int] = [],
                droppedOutOfSplit: Int = 0, missingJoinKeys: [String: Int] = [:],
                skippedRows: BadRowCounts = BadRowCounts(), skippedSideTableRows: [String: BadRowCounts] = [:],
                features: [FeatureReport] = [], trainRows: Int = 0, testRows: Int = 0,
                secondsTaken: Double = 0) {
        self.logRows = logRows
        self.droppedBySceneValue = droppedBySceneValue
        self.rowsPerScene = rowsPerScene
        self.droppedOutOfSplit = droppedOutOfSplit
        self.missingJoinKeys = missingJoinKeys
        self.skippedRows = skippedRows
        self.skippedSideTableRows = skippedSideTableRows
        self.features = features
        self.trainRows = trainRows
        self.testRows = testRows
        self.secondsTaken = secondsTaken
    }
}

/// Counts for one feature.
public struct FeatureReport: Codable, Equatable, Sendable {
    public var name: String
    /// Embedding-table rows R, row 0 included.
    public var tableRows: Int
    /// Train and test rows whose value is missing (empty field or no joined side row).
    public var missingTrain: Int
    public var missingTest: Int
    /// Test rows with a value that never occurs in a training row.
    public var unseenTest: Int
    /// Distinct values beyond the first in each shared hash bucket (0 for other encodings).
    public var hashCollisions: Int

    public init(name: String, tableRows: Int, missingTrain: Int = 0, missingTest: Int = 0,
                unseenTest: Int = 0, hashCollisions: Int = 0) {
        self.name = name
        self.tableRows = tableRows
        self.missingTrain = missingTrain
        self.missingTest = missingTest
        self.unseenTest = unseenTest
        self.hashCollisions = hashCollisions
    }
}
