import TensorCore

/// STAR (Sheng et al., "One Model to Serve All: Star Topology Adaptive Recommender for
/// Multi-Domain CTR Prediction", CIKM 2021), with one output per task.
///
/// With E the concatenated embeddings `[B, F·D]` and s the scene of each row:
/// - Partitioned normalization: `h₀ = PN(E)`, batch normalization scaled by `γ_shared ⊙ γ_s` and
///   shifted by `β_shared + β_s` (see `PartitionedNormalization`).
/// - Star layers, l = 1 … L: `h_l = dropout(relu(h_{l−1} · (W_l ⊙ W_{l,s}) + (b_l + b_{l,s})))`,
///   widths `hiddenUnits` (see `StarDense`).
/// - Head, also star-topology: `z_main = h_L · (W_o ⊙ W_{o,s}) + (b_o + b_{o,s})`, `[B, T]`, one
///   column per task. A star head lets each scene shift every task's output, as the star layers do.
/// - Auxiliary network over the scene embedding e_scene `[B, D]`: `z_aux = MLP(e_scene)`, `[B, T]`,
///   with hidden widths `auxiliaryUnits` (ReLU, dropout) and a linear output of T units.
/// - Logits: `z = z_main + z_aux`. Both terms are logits: the sum is the model's output, and the
///   trainer applies the only sigmoid.
public final class STAR: RankingModel {
    public struct Options: Sendable, Equatable {
        public var hiddenUnits: [Int] = [128, 64]
        public var auxiliaryUnits: [Int] = [32]
        public var dropout: Float = 0
        public var sceneFeature = "scene"
        /// Momentum of the normalization's running statistics; see `PartitionedNormalization`.
        public var normalizationMomentum: Float = 0.9
        public init() {}
    }

    public let taskCount: Int
    public let sceneCount: Int
    let options: Options
    let layout: FeatureLayout
    let sceneFeature: Int
    public let normalization: PartitionedNormalization
    /// Star layers, widths `hiddenUnits`.
    public let layers: [StarDense]
    /// Star-topology output layer `[N_L, T]`.
    public let head: StarDense
    /// Auxiliary hidden layers over the scene embedding, widths `auxiliaryUnits`.
    let auxiliaryLayers: [Dense]
    /// Auxiliary output `[N, T]`.
    let auxiliaryHead: Dense

    public init(options: Options, layout: FeatureLayout, taskCount: Int, sceneCount: Int, seed: UInt64) throws {
        guard !options.hiddenUnits.isEmpty, options.hiddenUnits.allSatisfy({ $0 > 0 }) else {
            throw ModelError.invalidOption(option: "model.hiddenUnits",
                                          message: "needs one or more positive widths, got \(options.hiddenUnits)")
        }
        guard options.auxiliaryUnits.allSatisfy({ $0 > 0 }) else {
            throw ModelError.invalidOption(option: "model.auxiliaryUnits",
                                          message: "needs positive widths (or none), got \(options.auxiliaryUnits)")
        }
        guard options.dropout >= 0, options.dropout < 1 else {
            throw ModelError.invalidOption(option: "model.dropout", message: "must be in [0, 1), got \(options.dropout)")
        }
        guard options.normalizationMomentum >= 0, options.normalizationMomentum < 1 else {
            throw ModelError.invalidOption(option: "model.normalizationMomentum",
                                          message: "must be in [0, 1), got \(options.normalizationMomentum)")
        }
        guard taskCount > 0 else {
            throw ModelError.invalidOption(option: "data.tasks", message: "STAR needs at least one task")
        }
        guard sceneCount > 0 else {
            throw ModelError.invalidOption(option: "data.scene.values", message: "STAR needs at least one scene")
        }
        self.options = options
        self.layout = layout
        self.taskCount = taskCount
        self.sceneCount = sceneCount
        sceneFeature = try layout.index(of: options.sceneFeature, option: "model.sceneFeature")

        var generator = RandomGenerator(seed: seed)
        normalization = PartitionedNormalization(name: "norm", width: layout.totalWidth, sceneCount: sceneCount,
                                                 momentum: options.normalizationMomentum)
        var inputWidth = layout.totalWidth
        var layers: [StarDense] = []
        for (layer, units) in options.hiddenUnits.enumerated() {
            layers.append(StarDense(name: "star\(layer)", inputWidth: inputWidth, outputWidth: units,
                                    sceneCount: sceneCount, generator: &generator))
            inputWidth = units
        }
        self.layers = layers
        head = StarDense(name: "head", inputWidth: inputWidth, outputWidth: taskCount, sceneCount: sceneCount,
                         generator: &generator)

        var auxiliaryWidth = layout.widths[sceneFeature]
        var auxiliaryLayers: [Dense] = []
        for (layer, units) in options.auxiliaryUnits.enumerated() {
            auxiliaryLayers.append(Dense(name: "auxiliary.dense\(layer)", inputWidth: auxiliaryWidth,
                                         outputWidth: units, generator: &generator))
            auxiliaryWidth = units
        }
        self.auxiliaryLayers = auxiliaryLayers
        auxiliaryHead = Dense(name: "auxiliary.head", inputWidth: auxiliaryWidth, outputWidth: taskCount,
                              generator: &generator)
    }

    static let entry = ModelEntry(
        name: "star",
        summary: "STAR: partitioned normalization and star-topology layers (shared ⊙ per-scene weights) with an auxiliary scene network",
        options: [
            ("hiddenUnits", "widths of the star-topology hidden layers (default [128, 64])"),
            ("auxiliaryUnits", "hidden widths of the auxiliary network over the scene embedding; [] for a linear one (default [32])"),
            ("dropout", "dropout rate after each hidden layer, star and auxiliary (default 0)"),
            ("sceneFeature", "feature whose embedding feeds the auxiliary network (default \"scene\")"),
            ("normalizationMomentum", "weight of the old value when the normalization's running mean and variance, used at inference, take in a training batch, in [0, 1) (default 0.9)"),
        ],
        make: { reader, context in
            var options = Options()
            options.hiddenUnits = try reader.intArray("hiddenUnits", default: options.hiddenUnits)
            options.auxiliaryUnits = try reader.intArray("auxiliaryUnits", default: options.auxiliaryUnits)
            options.dropout = try reader.float("dropout", default: options.dropout)
            options.sceneFeature = try reader.string("sceneFeature", default: options.sceneFeature)
            options.normalizationMomentum = try reader.float("normalizationMomentum", default: options.normalizationMomentum)
            return try STAR(options: options, layout: context.layout, taskCount: context.taskCount,
                            sceneCount: context.sceneCount, seed: context.seed)
        })

    public var buffers: [ModelBuffer] { normalization.buffers }

    public var parameters: [Parameter] {
        normalization.parameters + layers.flatMap(\.parameters) + head.parameters
            + auxiliaryLayers.flatMap(\.parameters) + auxiliaryHead.parameters
    }

    public func forward(embeddings: Variable, batch: BatchContext) -> Variable {
        mainLogits(embeddings: embeddings, batch: batch) + auxiliaryLogits(embeddings: embeddings, batch: batch)
    }

    /// Returns `z_main` `[B, T]`: partitioned normalization, the star layers and the star head.
    public func mainLogits(embeddings: Variable, batch: BatchContext) -> Variable {
        let groups = RowGroups(keys: batch.scenes, groupCount: sceneCount)
        var hidden = normalization(embeddings, scenes: batch.scenes)
        for (layer, dense) in layers.enumerated() {
            hidden = rowSeededDropout(dense(hidden, groups: groups, activation: .relu), rate: options.dropout,
                                      rowSeeds: batch.rowSeeds, layer: UInt64(layer))
        }
        return head(hidden, groups: groups, activation: .identity)
    }

    /// Returns `z_aux` `[B, T]`, the auxiliary network's logits from the scene embedding.
    public func auxiliaryLogits(embeddings: Variable, batch: BatchContext) -> Variable {
        let offset = layout.offsets[sceneFeature]
        let width = layout.widths[sceneFeature]
        var hidden = split(embeddings, sizes: [offset, width, layout.totalWidth - offset - width])[1]
        for (layer, dense) in auxiliaryLayers.enumerated() {
            hidden = rowSeededDropout(dense(hidden, activation: .relu), rate: options.dropout, rowSeeds: batch.rowSeeds,
                                      layer: UInt64(64 + layer))
        }
        return auxiliaryHead(hidden)
    }
}
