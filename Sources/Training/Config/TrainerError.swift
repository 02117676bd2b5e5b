import DataPipeline
import Models

/// Errors that stop a run before or during training, each naming what to fix.
public enum TrainerError: Error, CustomStringConvertible {
    case configUnreadable(path: String, reason: String)
    case invalidConfig(path: String, error: ConfigError)
    case configMismatch(key: String, message: String)
    case invalidModel(source: String, error: ModelError)
    case emptySplit(split: String, hint: String)
    case divergedReplicas(step: Int, ranks: [Int])
    /// `value` names a loss (`loss of task click`) or a gradient (`gradient of tower.0.weight`).
    case nonFinite(step: Int, rank: Int, value: String)
    /// `executables` is each rank's executable path, indexed by rank.
    case buildMismatch(ranks: [Int], executables: [String])
    case invalidTestHook(variable: String, value: String, expected: String)
    /// Ranks opened prepared data built from different inputs.
    case dataMismatch(message: String)

    public var description: String {
        switch self {
        case let .configUnreadable(path, reason):
            return "cannot read config \(path): \(reason)"
        case let .invalidConfig(path, error):
            return "\(path): \(error)"
        case let .configMismatch(key, message):
            return "\(key): \(message)"
        case let .invalidModel(source, error):
            return "\(source): invalid config at \(error)"
        case let .emptySplit(split, hint):
            return "the \(split) split is empty: \(hint)"
        case let .divergedReplicas(step, ranks):
            return "dense parameters differ across ranks at step \(step): ranks \(ranks.map(String.init).joined(separator: ", ")) disagree with rank 0"
        case let .nonFinite(step, rank, value):
            return "\(value) is not finite (NaN or Inf) in step \(step) on rank \(rank)"
        case let .buildMismatch(ranks, executables):
            let subject = ranks.count == 1 ? "rank \(ranks[0]) runs" : "ranks \(ranks.map(String.init).joined(separator: ", ")) run"
            let paths = ([0] + ranks).map { "rank \($0): \(executables[$0])" }.joined(separator: ", ")
            return "\(subject) a different trainer executable than rank 0 "
                + "(the FNV-1a 64 hash of the file differs; \(paths)); install the same build at the same path on every node"
        case let .dataMismatch(message):
            return message
        case let .invalidTestHook(variable, value, expected):
            return "invalid value \"\(value)\" of the test-only variable \(variable): expected \(expected); unset it for normal runs"
        }
    }
}
