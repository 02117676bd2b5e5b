import TensorCore

/// MMoE, the multi-gate mixture of experts (Ma et al., KDD 2018).
///
/// With x the concatenated embeddings `[B, F·D]`:
/// - E experts, each a ReLU MLP: `h_e = expert_e(x)`, `[B, H]` with H the last expert width.
/// - Per task t a softmax gate over the same input: `g_t = softmax(x · W_t + b_t)`, `W_t` `[F·D, E]`,
///   `g_t` `[B, E]` with rows summing to 1.
/// - Task input `u_t = Σ_e g_t,e ⊙ h_e`, `[B, H]`, mixed row by row.
/// - Tower t (a ReLU MLP) and a one-unit head: `z_t = head_t(tower_t(u_t))`, giving `[B, T]`.
///
/// Dropout, when set, follows every hidden layer of the experts and the towers, but not the gates.
public final class MMoE: RankingModel {
    public struct Options: Sendable, Equatable {
        public var experts = 4
        public var expertUnits = [128, 64]
        public var towerUnits = [64]
        public var dropout: Float = 0
        public init() {}
    }

    public let taskCount: Int
    let options: Options
    /// E expert MLPs `expert<e>.dense<l>`, each `[B, F·D] → [B, H]`.
    public let experts: [ReLUStack]
    /// T gates `gate<t>`, each `[B, F·D] → [B, E]` before the softmax.
    public let gates: [Dense]
    public let towers: TaskTowers

    public init(options: Options, layout: FeatureLayout, taskCount: Int, seed: UInt64) throws {
        guard options.experts > 0 else {
            throw ModelError.invalidOption(option: "model.experts", message: "must be positive, got \(options.experts)")
        }
        try validateUnits(options.expertUnits, option: "model.expertUnits")
        try validateUnits(options.towerUnits, option: "model.towerUnits", allowEmpty: true)
        try validateDropout(options.dropout)
        guard taskCount > 0 else {
            throw ModelError.invalidOption(option: "data.tasks", message: "MMoE needs at least one task")
        }
        self.options = options
        self.taskCount = taskCount

        var generator = RandomGenerator(seed: seed)
        var nextDropoutLayer: UInt64 = 0
        let width = layout.totalWidth
        experts = (0..<options.experts).map { expert in
            ReLUStack(name: "expert\(expert)", inputWidth: width, units: options.expertUnits, dropout: options.dropout,
                      nextDropoutLayer: &nextDropoutLayer, generator: &generator)
        }
        gates = (0..<taskCount).map { task in
            Dense(name: "gate\(task)", inputWidth: width, outputWidth: options.experts, generator: &generator)
        }
        towers = TaskTowers(inputWidth: options.expertUnits.last!, units: options.towerUnits, taskCount: taskCount,
                            dropout: options.dropout, nextDropoutLayer: &nextDropoutLayer, generator: &generator)
    }

    static let entry = ModelEntry(
        name: "mmoe",
        summary: "MMoE: shared ReLU experts mixed by one softmax gate per task, then one tower per task",
        options: [
            ("experts", "number of experts E shared by all tasks (default 4)"),
            ("expertUnits", "widths of each expert's ReLU layers; the last is the mixture width H (default [128, 64])"),
            ("towerUnits", "widths of each task tower's ReLU layers before its head; [] puts the head on the mixture (default [64])"),
            ("dropout", "dropout rate after every hidden layer of the experts and towers (default 0)"),
        ],
        make: { reader, context in
            var options = Options()
            options.experts = try reader.int("experts", default: options.experts)
            options.expertUnits = try reader.intArray("expertUnits", default: options.expertUnits)
            options.towerUnits = try reader.intArray("towerUnits", default: options.towerUnits)
            options.dropout = try reader.float("dropout", default: options.dropout)
            return try MMoE(options: options, layout: context.layout, taskCount: context.taskCount, seed: context.seed)
        })

    public var parameters: [Parameter] {
        experts.flatMap(\.parameters) + gates.flatMap(\.parameters) + towers.parameters
    }

    /// Returns each task's gate weights, T tensors `[B, E]` whose rows sum to 1.
    public func gateWeights(embeddings: Variable) -> [Variable] {
        gates.map { softmax($0(embeddings)) }
    }

    /// Runs the packed path (`forwardPacked`), which computes the same function as
    /// `forwardPerExpert` with the same dropout masks.
    public func forward(embeddings: Variable, batch: BatchContext) -> Variable {
        forwardPacked(embeddings: embeddings, rowSeeds: batch.rowSeeds)
    }

    /// Computes the model as the type's documentation writes it: each expert, gate and tower runs
    /// its own layers, mixed with `mixExperts`. Dropout, when set, applies after every hidden layer.
    public func forwardPerExpert(embeddings: Variable, batch: BatchContext) -> Variable {
        let expertOutputs = experts.map { $0(embeddings, rowSeeds: batch.rowSeeds) }
        let taskInputs = gateWeights(embeddings: embeddings).map { mixExperts(expertOutputs, gates: $0) }
        return towers(taskInputs, rowSeeds: batch.rowSeeds)
    }

    /// Computes the model with the layers that share an input packed together:
    /// - the E first expert layers and the T gates read the same x, so they are one GEMM giving
    ///   `[B, E·N_0 + T·E]` (`packedLinear`);
    /// - each later expert layer reads its own column block (`blockDiagonalLinear`), `[B, E·N_l]`;
    /// - softmax and mixture run as one `gatedMixture`, `[B, T·H]`;
    /// - the towers and heads are block-diagonal layers on the task columns, giving `[B, T]`.
    ///
    /// With `rowSeeds` `[B]`, dropout applies after every hidden layer in training, each expert's
    /// and tower's column block with the masks of that expert's or tower's own layer. Without
    /// them no unit is dropped.
    public func forwardPacked(embeddings: Variable, rowSeeds: [UInt64]? = nil) -> Variable {
        let graph = embeddings.graph
        let expertCount = experts.count
        let firstLayers = experts.map { $0.layers[0] } + gates
        let activations = [FusedActivation](repeating: .relu, count: expertCount)
            + [FusedActivation](repeating: .identity, count: gates.count)
        let shared = packedLinear(embeddings, weights: firstLayers.map { graph.parameter($0.weight) },
                                  biases: firstLayers.map { graph.parameter($0.bias) }, activations: activations)

        func dropExpertUnits(_ x: Variable, layer: Int) -> Variable {
            guard let rowSeeds, options.dropout > 0, graph.isTraining else { return x }
            return rowSeededDropout(x, rate: options.dropout, rowSeeds: rowSeeds,
                                    blockLayers: experts.map { $0.dropoutLayerIDs[layer] })
        }

        let dropping = rowSeeds != nil && options.dropout > 0 && graph.isTraining
        // The gate logits share `shared`, so only its expert columns go through dropout.
        var hidden = shared
        if dropping {
            hidden = dropExpertUnits(slice(shared, columns: 0..<(expertCount * options.expertUnits[0])), layer: 0)
        }
        for layer in 1..<options.expertUnits.count {
            let denses = experts.map { $0.layers[layer] }
            hidden = blockDiagonalLinear(hidden, weights: denses.map { graph.parameter($0.weight) },
                                         biases: denses.map { graph.parameter($0.bias) }, activation: .relu)
            hidden = dropExpertUnits(hidden, layer: layer)
        }
        let mixture = gatedMixture(experts: hidden, expertWidth: options.expertUnits.last!, gateLogits: shared,
                                   gateOffset: expertCount * options.expertUnits[0], taskCount: taskCount)
        return towers(packedInputs: mixture, rowSeeds: dropping ? rowSeeds : nil)
    }
}
