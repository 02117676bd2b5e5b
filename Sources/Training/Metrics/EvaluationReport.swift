import Foundation

/// Metrics of a multi-task, multi-scene CTR evaluation: per task, per scene and task, and the
/// macro average over tasks.
///
/// Every AUC-like value is `nil` where it is undefined (a class is absent), and JSON writes it
/// as `null`. No field is ever NaN.
public struct EvaluationReport: Codable, Equatable, Sendable {
    /// Metrics of one task over all rows.
    public struct TaskMetrics: Codable, Equatable, Sendable {
        public var name: String
        public var auc: Double?
        /// Impression-weighted mean of the per-user AUC.
        public var gauc: Double?
        /// Unweighted mean of the per-user AUC.
        public var uauc: Double?
        /// Users whose rows contain both classes.
        public var validUsers: Int
        /// Rows with a positive label.
        public var positives: Int
        public var rows: Int
        /// Mean binary cross-entropy of the probabilities, clipped to
        /// [`EvaluationReport.probabilityEpsilon`, 1 − epsilon]; `nil` when there are no rows.
        public var logloss: Double?

        public init(name: String, auc: Double?, gauc: Double?, uauc: Double?, validUsers: Int,
                    positives: Int, rows: Int, logloss: Double?) {
            self.name = name
            self.auc = auc
            self.gauc = gauc
            self.uauc = uauc
            self.validUsers = validUsers
            self.positives = positives
            self.rows = rows
            self.logloss = logloss
        }
    }

    /// Means over the tasks where each value is defined; `nil` when no task has it.
    public struct MacroAverages: Codable, Equatable, Sendable {
        public var auc: Double?
        public var gauc: Double?
        public var uauc: Double?

        public init(auc: Double?, gauc: Double?, uauc: Double?) {
            self.auc = auc
            self.gauc = gauc
            self.uauc = uauc
        }
    }

    /// Metrics of one task restricted to one scene's rows.
    public struct SceneTaskMetrics: Codable, Equatable, Sendable {
        public var task: String
        public var auc: Double?
        /// GAUC over each user's rows in this scene.
        public var gauc: Double?
        /// Users whose rows in this scene contain both classes.
        public var validUsers: Int

        public init(task: String, auc: Double?, gauc: Double?, validUsers: Int) {
            self.task = task
            self.auc = auc
            self.gauc = gauc
            self.validUsers = validUsers
        }
    }

    /// Metrics of every task within one scene.
    public struct SceneMetrics: Codable, Equatable, Sendable {
        public var name: String
        public var rows: Int
        /// One entry per task, in task order.
        public var tasks: [SceneTaskMetrics]

        public init(name: String, rows: Int, tasks: [SceneTaskMetrics]) {
            self.name = name
            self.rows = rows
            self.tasks = tasks
        }
    }

    /// Lower clip of probabilities in the logloss, so a confident wrong prediction costs at most
    /// −ln(1e-7) ≈ 16.1 instead of infinity.
    public static let probabilityEpsilon = 1e-7

    /// Rows evaluated.
    public var rows: Int
    /// One entry per task, in task order.
    public var tasks: [TaskMetrics]
    public var macro: MacroAverages
    /// One entry per scene, in scene index order, including scenes without rows.
    public var scenes: [SceneMetrics]

    public init(rows: Int, tasks: [TaskMetrics], macro: MacroAverages, scenes: [SceneMetrics]) {
        self.rows = rows
        self.tasks = tasks
        self.macro = macro
        self.scenes = scenes
    }
}

// Synthesized `Encodable` skips `nil` optionals, so the structs holding optional values encode
// them explicitly and a missing value appears in JSON as `null` under its key.
extension EvaluationReport.TaskMetrics {
    private enum CodingKeys: String, CodingKey {
        case name, auc, gauc, uauc, validUsers, positives, rows, logloss
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(auc, forKey: .auc)
        try container.encode(gauc, forKey: .gauc)
        try container.encode(uauc, forKey: .uauc)
        try container.encode(validUsers, forKey: .validUsers)
        try container.encode(positives, forKey: .positives)
        try container.encode(rows, forKey: .rows)
        try container.encode(logloss, forKey: .logloss)
    }
}

extension EvaluationReport.MacroAverages {
    private enum CodingKeys: String, CodingKey {
        case auc, gauc, uauc
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(auc, forKey: .auc)
        try container.encode(gauc, forKey: .gauc)
        try container.encode(uauc, forKey: .uauc)
    }
}

extension EvaluationReport.SceneTaskMetrics {
    private enum CodingKeys: String, CodingKey {
        case task, auc, gauc, validUsers
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(task, forKey: .task)
        try container.encode(auc, forKey: .auc)
        try container.encode(gauc, forKey: .gauc)
        try container.encode(validUsers, forKey: .validUsers)
    }
}

extension EvaluationReport {
    /// Encodes the report as pretty-printed JSON with sorted keys, the content of `metrics.json`.
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
