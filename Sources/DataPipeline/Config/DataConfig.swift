import Foundation

/// The "data" section of a training config: which CSV files to read, how to join, filter and
/// split their rows, and how to encode each feature column into embedding-table rows.
///
/// Decoding is strict: unknown keys, missing required keys, wrong types and out-of-range values
/// throw `ConfigError` with the key path, e.g. `data.features[3].hashBuckets`.
public struct DataConfig: Codable, Equatable, Sendable {
    /// Folder of the input files; a relative path resolves against the current working directory.
    public var directory: String
    /// File name of the interaction log inside `directory`, one impression per row.
    public var log: String
    /// Side tables joined to the log by a key column, searched in this order after the log.
    public var joins: [JoinConfig]
    /// The scene column and the values kept, in scene-index order.
    public var scene: SceneConfig
    /// Label columns, each 0 or 1, in task order.
    public var tasks: [String]
    /// The numeric column that assigns rows to the train or test split.
    public var split: SplitConfig
    /// Column that identifies the user of a row, used to group rows for GAUC.
    public var userColumn: String
    /// Embedding width D of every feature without its own `embeddingDimension`.
    public var embeddingDimension: Int
    /// Categorical features in model input order.
    public var features: [FeatureConfig]
    /// What to do with each kind of bad row (the optional `errors` key).
    public var errors: BadRowConfig

    public init(directory: String, log: String, joins: [JoinConfig] = [], scene: SceneConfig,
                tasks: [String], split: SplitConfig, userColumn: String, embeddingDimension: Int,
                features: [FeatureConfig], errors: BadRowConfig = BadRowConfig()) {
        self.directory = directory
        self.log = log
        self.joins = joins
        self.scene = scene
        self.tasks = tasks
        self.split = split
        self.userColumn = userColumn
        self.embeddingDimension = embeddingDimension
        self.features = features
        self.errors = errors
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case directory, log, joins, scene, tasks, split, userColumn, embeddingDimension, features, errors
    }

    public init(from decoder: Decoder) throws {
        try StrictDecoding.rejectUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        directory = try container.decode(String.self, forKey: .directory)
        log = try container.decode(String.self, forKey: .log)
        joins = try container.decodeIfPresent([JoinConfig].self, forKey: .joins) ?? []
        scene = try container.decode(SceneConfig.self, forKey: .scene)
        tasks = try container.decode([String].self, forKey: .tasks)
        split = try container.decode(SplitConfig.self, forKey: .split)
        userColumn = try container.decode(String.self, forKey: .userColumn)
        embeddingDimension = try container.decodeWholeNumber(forKey: .embeddingDimension, decoder: decoder)
        features = try container.decode([FeatureConfig].self, forKey: .features)
        errors = try container.decodeIfPresent(BadRowConfig.self, forKey: .errors) ?? BadRowConfig()

        if log.isEmpty {
            throw StrictDecoding.invalid("log", in: decoder, "the log file name is empty")
        }
        if tasks.isEmpty {
            throw StrictDecoding.invalid("tasks", in: decoder, "list at least one label column")
        }
        if let duplicate = firstDuplicate(tasks) {
            throw StrictDecoding.invalid("tasks", in: decoder, "task \"\(duplicate)\" is listed twice")
        }
        if embeddingDimension < 1 {
            throw StrictDecoding.invalid("embeddingDimension", in: decoder,
                                         "must be at least 1, got \(embeddingDimension)")
        }
        if features.isEmpty {
            throw StrictDecoding.invalid("features", in: decoder, "list at least one feature")
        }
        if let duplicate = firstDuplicate(features.map(\.name)) {
            throw StrictDecoding.invalid("features", in: decoder,
                                         "feature name \"\(duplicate)\" is used twice; names must be unique")
        }
        if features.filter({ $0.encoding == .scene }).count > 1 {
            throw StrictDecoding.invalid("features", in: decoder,
                                         "more than one feature has encoding \"scene\"; keep one")
        }
    }

    /// Embedding width of the feature at `index`, with the per-feature override applied.
    public func embeddingDimension(ofFeature index: Int) -> Int {
        features[index].embeddingDimension ?? embeddingDimension
    }
}

/// A side table joined to the log: each log row takes the side row whose `key` column has the
/// same text as the log's `key` column.
public struct JoinConfig: Codable, Equatable, Sendable {
    /// File name inside the data directory.
    public var file: String
    /// Column name present in both the log and this table.
    public var key: String

    public init(file: String, key: String) {
        self.file = file
        self.key = key
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case file, key }

    public init(from decoder: Decoder) throws {
        try StrictDecoding.rejectUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        file = try container.decode(String.self, forKey: .file)
        key = try container.decode(String.self, forKey: .key)
    }
}

/// The scene column and its kept values; the scene index of a row is the position of its value
/// in `values`, and rows with other values are dropped.
public struct SceneConfig: Codable, Equatable, Sendable {
    public var column: String
    /// Scene values compared as text, in scene-index order (S values).
    public var values: [String]

    public init(column: String, values: [String]) {
        self.column = column
        self.values = values
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case column, values }

    public init(from decoder: Decoder) throws {
        try StrictDecoding.rejectUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        column = try container.decode(String.self, forKey: .column)
        values = try container.decode([String].self, forKey: .values)
        if values.isEmpty {
            throw StrictDecoding.invalid("values", in: decoder, "list at least one scene value")
        }
        if let duplicate = firstDuplicate(values) {
            throw StrictDecoding.invalid("values", in: decoder, "scene value \"\(duplicate)\" is listed twice")
        }
    }
}

/// Train/test assignment by a numeric column: train if value <= `trainMax`, test if value >=
/// `testMin`, otherwise the row is dropped.
public struct SplitConfig: Codable, Equatable, Sendable {
    public var column: String
    public var trainMax: Double
    public var testMin: Double

    public init(column: String, trainMax: Double, testMin: Double) {
        self.column = column
        self.trainMax = trainMax
        self.testMin = testMin
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case column, trainMax, testMin }

    public init(from decoder: Decoder) throws {
        try StrictDecoding.rejectUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        column = try container.decode(String.self, forKey: .column)
        trainMax = try container.decode(Double.self, forKey: .trainMax)
        testMin = try container.decode(Double.self, forKey: .testMin)
        if !(testMin > trainMax) {
            throw StrictDecoding.invalid("testMin", in: decoder,
                                         "must be greater than trainMax (\(trainMax)) so no row is in both splits, got \(testMin)")
        }
    }
}

func firstDuplicate(_ values: [String]) -> String? {
    var seen = Set<String>()
    for value in values where !seen.insert(value).inserted {
        return value
    }
    return nil
}
