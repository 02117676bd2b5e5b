import TensorCore

/// The shared-bottom multi-task baseline: one ReLU MLP shared by all tasks, then one tower per task.
///
/// With x the concatenated embeddings `[B, F·D]`: `s = bottom(x)`, `[B, N]` with N the last bottom
/// width, and `z_t = head_t(tower_t(s))` per task, `[B, T]` in all. Dropout, when set, follows every
/// hidden layer of the bottom and the towers.
public final class SharedBottom: RankingModel {
    public struct Options: Sendable, Equatable {
        public var bottomUnits = [128, 64]
        public var towerUnits = [64]
        public var dropout: Float = 0
        public init() {}
    }

    public let taskCount: Int
    let options: Options
    /// The shared MLP `bottom.dense<l>`, `[B, F·D] → [B, N]`.
    public let bottom: ReLUStack
    public let towers: TaskTowers

    public init(options: Options, layout: FeatureLayout, taskCount: Int, seed: UInt64) throws {
        try validateUnits(options.bottomUnits, option: "model.bottomUnits")
        try validateUnits(options.towerUnits, option: "model.towerUnits", allowEmpty: true)
        try validateDropout(options.dropout)
        guard taskCount > 0 else {
            throw ModelError.invalidOption(option: "data.tasks", message: "the shared-bottom model needs at least one task")
        }
        self.options = options
        self.taskCount = taskCount

        var generator = RandomGenerator(seed: seed)
        var nextDropoutLayer: UInt64 = 0
        bottom = ReLUStack(name: "bottom", inputWidth: layout.totalWidth, units: options.bottomUnits,
                           dropout: options.dropout, nextDropoutLayer: &nextDropoutLayer, generator: &generator)
        towers = TaskTowers(inputWidth: bottom.outputWidth, units: options.towerUnits, taskCount: taskCount,
                            dropout: options.dropout, nextDropoutLayer: &nextDropoutLayer, generator: &generator)
    }

    static let entry = ModelEntry(
        name: "shared-bottom",
        summary: "shared-bottom baseline: one ReLU MLP shared by all tasks, then one tower per task",
        options: [
            ("bottomUnits", "widths of the shared bottom's ReLU layers (default [128, 64])"),
            ("towerUnits", "widths of each task tower's ReLU layers before its head; [] puts the head on the bottom (default [64])"),
            ("dropout", "dropout rate after every hidden layer of the bottom and towers (default 0)"),
        ],
        make: { reader, context in
            var options = Options()
            options.bottomUnits = try reader.intArray("bottomUnits", default: options.bottomUnits)
            options.towerUnits = try reader.intArray("towerUnits", default: options.towerUnits)
            options.dropout = try reader.float("dropout", default: options.dropout)
            return try SharedBottom(options: options, layout: context.layout, taskCount: context.taskCount,
                                    seed: context.seed)
        })

    public var parameters: [Parameter] { bottom.parameters + towers.parameters }

    public func forward(embeddings: Variable, batch: BatchContext) -> Variable {
        let shared = bottom(embeddings, rowSeeds: batch.rowSeeds)
        return towers(Array(repeating: shared, count: taskCount), rowSeeds: batch.rowSeeds)
    }
}
