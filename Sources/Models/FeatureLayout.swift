import TensorCore

/// Where each categorical feature's embedding sits in the concatenated input `[B, F·D]`.
///
/// The trainer looks up every feature's embedding row and concatenates them in schema order, so a
/// model receives one tensor and finds a feature's block at `offsets[f] ..< offsets[f] + widths[f]`.
public struct FeatureLayout: Sendable, Equatable {
    public let names: [String]
    /// Embedding width D of each feature.
    public let widths: [Int]
    /// Column where each feature's block starts in the concatenated input.
    public let offsets: [Int]
    /// Sum of the widths: the second axis of the model input.
    public let totalWidth: Int

    public init(names: [String], widths: [Int]) {
        precondition(names.count == widths.count, "\(names.count) feature names but \(widths.count) widths")
        precondition(widths.allSatisfy { $0 > 0 }, "every embedding width must be positive, got \(widths)")
        self.names = names
        self.widths = widths
        var offsets: [Int] = []
        var next = 0
        for width in widths {
            offsets.append(next)
            next += width
        }
        self.offsets = offsets
        self.totalWidth = next
    }

    /// Returns the position of a feature, or throws `ModelError.unknownFeature` naming the model option.
    public func index(of name: String, option: String) throws -> Int {
        guard let index = names.firstIndex(of: name) else {
            throw ModelError.unknownFeature(name: name, option: option, known: names)
        }
        return index
    }
}

/// Per-batch inputs that a model needs beside the embeddings.
public struct BatchContext {
    /// Scene index of each row, `[B]`, in 0..<S.
    public let scenes: [Int32]
    /// One seed per row, `[B]`, from which dropout draws that row's masks. Seeds depend on the run
    /// seed, the step and the row's position in the global batch, never on the rank, so a run on
    /// W ranks drops the same units as a run on one.
    public let rowSeeds: [UInt64]

    public init(scenes: [Int32], rowSeeds: [UInt64]) {
        precondition(scenes.count == rowSeeds.count, "\(scenes.count) scenes but \(rowSeeds.count) row seeds")
        self.scenes = scenes
        self.rowSeeds = rowSeeds
    }

    public var rowCount: Int { scenes.count }
}

/// A multi-task ranking model over concatenated feature embeddings.
public protocol RankingModel: AnyObject {
    /// Dense parameters in a fixed order, the same on every rank.
    var parameters: [Parameter] { get }
    /// Number of logits per row.
    var taskCount: Int { get }
    /// State that training changes outside the optimizer, in a fixed order, the same on every
    /// rank; empty for most models.
    var buffers: [ModelBuffer] { get }

    /// Computes one logit per task.
    /// - Parameters:
    ///   - embeddings: `[B, F·D]`, each feature's embedding at its `FeatureLayout` offset.
    ///   - batch: scenes and dropout seeds of the B rows.
    /// - Returns: logits `[B, T]`.
    func forward(embeddings: Variable, batch: BatchContext) -> Variable
}

/// Invalid model settings, reported before training starts.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case unknownFeature(name: String, option: String, known: [String])
    case unknownModel(name: String, known: [String])
    case invalidOption(option: String, message: String)

    public var description: String {
        switch self {
        case let .unknownFeature(name, option, known):
            return "\(option): unknown feature \"\(name)\"; the data config defines \(known.joined(separator: ", "))"
        case let .unknownModel(name, known):
            return "model.name: unknown model \"\(name)\"; choose one of \(known.joined(separator: ", "))"
        case let .invalidOption(option, message):
            return "\(option): \(message)"
        }
    }
}
