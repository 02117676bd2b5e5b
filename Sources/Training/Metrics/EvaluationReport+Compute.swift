import Foundation

/// Input that cannot be evaluated: values from the model or the data, not caller mistakes.
public enum EvaluationError: Error, Equatable, CustomStringConvertible {
    case nonFiniteScore(task: String, row: Int, value: Float)
    case invalidLabel(task: String, row: Int, value: Float)
    case sceneOutOfRange(row: Int, scene: Int32, sceneCount: Int)

    public var description: String {
        switch self {
        case let .nonFiniteScore(task, row, value):
            return "score \(value) of task '\(task)' at row \(row) is not finite; "
                + "the model diverged or produced invalid output, so check the loss and learning rate"
        case let .invalidLabel(task, row, value):
            return "label \(value) of task '\(task)' at row \(row) is invalid; expected 0 or 1, "
                + "so check how the data pipeline builds labels"
        case let .sceneOutOfRange(row, scene, sceneCount):
            return "scene index \(scene) at row \(row) is out of range 0..<\(sceneCount); "
                + "pass one scene name per scene index"
        }
    }
}

extension EvaluationReport {
    /// Computes every metric from columnar evaluation output.
    ///
    /// - Parameters:
    ///   - scores: predicted probabilities `[R, T]`, row-major.
    ///   - labels: labels `[R, T]`, each 0 or 1.
    ///   - users: user id of each row `[R]`.
    ///   - scenes: scene index of each row `[R]`, in `0..<S`.
    ///   - taskNames: `[T]`.
    ///   - sceneNames: `[S]`.
    /// - Throws: `EvaluationError` for a NaN or infinite score, a label other than 0 or 1, or a
    ///   scene index outside `sceneNames`.
    /// - Complexity: O(R·T·log U) with U the most rows of one user: per task one radix sort of
    ///   all rows and one comparison sort of each user's rows.
    public init(scores: [Float], labels: [Float], users: [Int64], scenes: [Int32],
                taskNames: [String], sceneNames: [String]) throws {
        let rowCount = users.count
        let taskCount = taskNames.count
        let sceneCount = sceneNames.count
        precondition(taskCount > 0, "EvaluationReport needs at least one task name")
        precondition(scores.count == rowCount * taskCount,
                     "scores must be [R, T] = [\(rowCount), \(taskCount)], got \(scores.count) values")
        precondition(labels.count == rowCount * taskCount,
                     "labels must be [R, T] = [\(rowCount), \(taskCount)], got \(labels.count) values")
        precondition(scenes.count == rowCount, "scenes must be [R] = [\(rowCount)], got \(scenes.count) values")
        precondition(sceneCount <= RankKey.maxScene, "at most \(RankKey.maxScene) scenes, got \(sceneCount)")

        try Self.validate(scores: scores, labels: labels, scenes: scenes, taskNames: taskNames, sceneCount: sceneCount)

        var rowsPerScene = [Int](repeating: 0, count: sceneCount)
        for scene in scenes { rowsPerScene[Int(scene)] += 1 }

        let grouping = UserGrouping(users: users)
        var keys = [UInt64](repeating: 0, count: rowCount)
        var taskMetrics: [TaskMetrics] = []
        var sceneTaskMetrics = [[SceneTaskMetrics]](repeating: [], count: sceneCount)
        for (task, name) in taskNames.enumerated() {
            let statistics = TaskRankStatistics.compute(grouping: grouping, sceneCount: sceneCount, keys: &keys) { row in
                let index = row * taskCount + task
                return RankKey.make(score: scores[index], isPositive: labels[index] > 0.5, scene: Int(scenes[row]))
            }
            let grouped = statistics.grouped.result
            taskMetrics.append(TaskMetrics(
                name: name, auc: statistics.overall.auc, gauc: grouped.gauc, uauc: grouped.uauc,
                validUsers: grouped.validUsers, positives: statistics.overall.positives, rows: rowCount,
                logloss: Self.logloss(scores: scores, labels: labels, task: task, taskCount: taskCount)))

            for scene in 0..<sceneCount {
                let sceneGrouped = statistics.groupedPerScene[scene].result
                sceneTaskMetrics[scene].append(SceneTaskMetrics(
                    task: name, auc: statistics.perScene[scene].auc, gauc: sceneGrouped.gauc,
                    validUsers: sceneGrouped.validUsers))
            }
        }

        self.init(
            rows: rowCount,
            tasks: taskMetrics,
            macro: MacroAverages(auc: Self.mean(taskMetrics.map(\.auc)),
                                 gauc: Self.mean(taskMetrics.map(\.gauc)),
                                 uauc: Self.mean(taskMetrics.map(\.uauc))),
            scenes: (0..<sceneCount).map { scene in
                SceneMetrics(name: sceneNames[scene], rows: rowsPerScene[scene], tasks: sceneTaskMetrics[scene])
            })
    }

    private static func validate(scores: [Float], labels: [Float], scenes: [Int32], taskNames: [String],
                                 sceneCount: Int) throws {
        let taskCount = taskNames.count
        for index in 0..<scores.count where !scores[index].isFinite {
            throw EvaluationError.nonFiniteScore(task: taskNames[index % taskCount], row: index / taskCount,
                                                 value: scores[index])
        }
        for index in 0..<labels.count where labels[index] != 0 && labels[index] != 1 {
            throw EvaluationError.invalidLabel(task: taskNames[index % taskCount], row: index / taskCount,
                                               value: labels[index])
        }
        for row in 0..<scenes.count where scenes[row] < 0 || Int(scenes[row]) >= sceneCount {
            throw EvaluationError.sceneOutOfRange(row: row, scene: scenes[row], sceneCount: sceneCount)
        }
    }

    /// Mean binary cross-entropy of one task's column, summed in `Double`.
    private static func logloss(scores: [Float], labels: [Float], task: Int, taskCount: Int) -> Double? {
        let rowCount = scores.count / taskCount
        guard rowCount > 0 else { return nil }

        let epsilon = probabilityEpsilon
        var total = 0.0
        for row in 0..<rowCount {
            let index = row * taskCount + task
            let probability = min(max(Double(scores[index]), epsilon), 1 - epsilon)
            total -= labels[index] > 0.5 ? log(probability) : log(1 - probability)
        }
        return total / Double(rowCount)
    }

    private static func mean(_ values: [Double?]) -> Double? {
        let defined = values.compactMap { $0 }
        guard !defined.isEmpty else { return nil }
        return defined.reduce(0, +) / Double(defined.count)
    }
}
