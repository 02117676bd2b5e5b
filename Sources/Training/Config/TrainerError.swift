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
    case nonFiniteLoss(step: Int, rank: Int, task: String)

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
        case let .nonFiniteLoss(step, rank, task):
            return "loss of task \(task) is not finite at step \(step) on rank \(rank); lower the learning rate or check the input data"
        }
    }
}
