/// What a model needs to know about a prepared dataset: the features in input order with their
/// embedding-table sizes, the tasks and the scenes.
public struct DatasetSchema: Codable, Equatable, Sendable {
    /// Feature names in column order of the `[N, F]` feature matrix.
    public var featureNames: [String]
    /// Embedding-table rows R of each feature, row 0 (missing or unseen) included, `[F]`.
    public var tableRows: [Int]
    /// Embedding width D of each feature, `[F]`.
    public var embeddingDimensions: [Int]
    /// Label columns in column order of the `[N, T]` label matrix.
    public var taskNames: [String]
    /// Scene values in scene-index order, `[S]`.
    public var sceneValues: [String]
    /// Index of the feature holding scene index + 1, if the config has one.
    public var sceneFeatureIndex: Int?

    public init(featureNames: [String], tableRows: [Int], embeddingDimensions: [Int],
                taskNames: [String], sceneValues: [String], sceneFeatureIndex: Int?) {
        precondition(tableRows.count == featureNames.count && embeddingDimensions.count == featureNames.count,
                     "schema needs one table size and one width per feature: \(featureNames.count) features, "
                     + "\(tableRows.count) sizes, \(embeddingDimensions.count) widths")
        self.featureNames = featureNames
        self.tableRows = tableRows
        self.embeddingDimensions = embeddingDimensions
        self.taskNames = taskNames
        self.sceneValues = sceneValues
        self.sceneFeatureIndex = sceneFeatureIndex
    }

    /// Number of features F.
    public var featureCount: Int { featureNames.count }
    /// Number of tasks T.
    public var taskCount: Int { taskNames.count }
    /// Number of scenes S.
    public var sceneCount: Int { sceneValues.count }
}
