/// One split of an encoded dataset held in arrays, N rows.
public struct EncodedSplit: Equatable, Sendable {
    /// Number of rows N.
    public var count: Int
    /// Embedding-table row of each feature, row-major `[N, F]`.
    public var features: [Int32]
    /// Task labels, 0 or 1, row-major `[N, T]`.
    public var labels: [Float]
    /// Scene index 0 ..< S, `[N]`.
    public var scenes: [Int32]
    /// User id: the user column as an integer, else the FNV-1a hash of its text as a bit
    /// pattern, and `Int64.min` where it is empty, `[N]`.
    public var users: [Int64]
    /// 0-based data row of the log file each row came from, `[N]`.
    public var rowIndices: [Int64]

    public init(count: Int, features: [Int32], labels: [Float], scenes: [Int32], users: [Int64],
                rowIndices: [Int64]) {
        self.count = count
        self.features = features
        self.labels = labels
        self.scenes = scenes
        self.users = users
        self.rowIndices = rowIndices
    }
}

/// A dataset built in memory: schema, counts and both splits.
public struct EncodedDataset: Equatable, Sendable {
    public var schema: DatasetSchema
    public var report: PreparationReport
    public var train: EncodedSplit
    public var test: EncodedSplit

    public init(schema: DatasetSchema, report: PreparationReport, train: EncodedSplit, test: EncodedSplit) {
        self.schema = schema
        self.report = report
        self.train = train
        self.test = test
    }
}
