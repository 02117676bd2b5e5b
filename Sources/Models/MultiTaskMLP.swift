import TensorCore

/// The plain multi-task baseline: shared embeddings and one independent MLP tower per task,
/// `h = dropout(relu(h · W + b))` per hidden layer, then a one-unit head.
public final class MultiTaskMLP: RankingModel {
    public struct Options: Sendable, Equatable {
        public var hiddenUnits: [Int] = [128, 64]
        public var dropout: Float = 0.1
        public init() {}
    }

    public let taskCount: Int
    let options: Options
    let towers: [[Dense]]
    let heads: [Dense]

    public init(options: Options, layout: FeatureLayout, taskCount: Int, seed: UInt64) throws {
        guard !options.hiddenUnits.isEmpty, options.hiddenUnits.allSatisfy({ $0 > 0 }) else {
            throw ModelError.invalidOption(option: "model.hiddenUnits",
                                          message: "needs one or more positive widths, got \(options.hiddenUnits)")
        }
        guard options.dropout >= 0, options.dropout < 1 else {
            throw ModelError.invalidOption(option: "model.dropout", message: "must be in [0, 1), got \(options.dropout)")
        }
        guard taskCount > 0 else {
            throw ModelError.invalidOption(option: "data.tasks", message: "the MLP needs at least one task")
        }
        self.options = options
        self.taskCount = taskCount
        var generator = RandomGenerator(seed: seed)
        var towers: [[Dense]] = []
        var heads: [Dense] = []
        for task in 0..<taskCount {
            var inputWidth = layout.totalWidth
            var tower: [Dense] = []
            for (layer, units) in options.hiddenUnits.enumerated() {
                tower.append(Dense(name: "tower\(task).dense\(layer)", inputWidth: inputWidth, outputWidth: units,
                                   generator: &generator))
                inputWidth = units
            }
            towers.append(tower)
            heads.append(Dense(name: "tower\(task).head", inputWidth: inputWidth, outputWidth: 1, generator: &generator))
        }
        self.towers = towers
        self.heads = heads
    }

    static let entry = ModelEntry(
        name: "mlp",
        summary: "plain multi-task baseline: shared embeddings and one MLP tower per task",
        options: [("hiddenUnits", CommonOptionHelp.hiddenUnits), ("dropout", CommonOptionHelp.dropout)],
        make: { reader, context in
            var options = Options()
            options.hiddenUnits = try reader.intArray("hiddenUnits", default: options.hiddenUnits)
            options.dropout = try reader.float("dropout", default: options.dropout)
            return try MultiTaskMLP(options: options, layout: context.layout, taskCount: context.taskCount, seed: context.seed)
        })

    public var parameters: [Parameter] {
        zip(towers, heads).flatMap { tower, head in tower.flatMap(\.parameters) + head.parameters }
    }

    public func forward(embeddings: Variable, batch: BatchContext) -> Variable {
        var logits: [Variable] = []
        for task in 0..<taskCount {
            var hidden = embeddings
            for (layer, dense) in towers[task].enumerated() {
                hidden = rowSeededDropout(dense(hidden, activation: .relu), rate: options.dropout, rowSeeds: batch.rowSeeds,
                                          layer: UInt64(task * 64 + layer))
            }
            logits.append(heads[task](hidden))
        }
        return concat(logits)
    }
}
