import TensorCore

/// M2M (Zhang et al., "Leaving No One Behind: A Multi-Scenario Multi-Task Meta Learning Approach
/// for Advertiser Modeling", WSDM 2022): shared experts, mixed per task by a meta attention, then
/// one meta tower per task. Every meta unit generates its weights per row from the scenario
/// representation z (see `MetaUnit`).
///
/// With X the concatenated embeddings `[B, F·D]` and H the last expert width:
/// - Expert view: `x_e = MLP_e(X)` `[B, H]` for each of the E experts, stacked as `[B, E, H]`.
/// - Task view: one learned embedding `τ_t` `[Te]` per task, `[T, Te]`.
/// - Scenario view: `z = relu([X_s1 ‖ X_s2 ‖ ...] · W_z + b_z)` `[B, Z]` over the embeddings of the
///   scene features (the scene itself by default).
/// - Meta attention: `a_te = v · MetaUnit_att([x_e ‖ τ_t]; z)` with `v` `[H]`, and
///   `α_t = softmax_e(a_te)` `[B, T, E]`. All T·E inputs of a row share one generated
///   `[H + Te, H]` weight. Task t's representation is `r_t = Σ_e α_te x_e` `[B, H]`.
/// - Meta tower: `h_0 = r_t`, `h_l = h_{l−1} + dropout(MetaUnit_tl(h_{l−1}; z))` for l = 1...L,
///   then a one-unit head gives logit t. All tower units are `[H, H]`, so every layer is residual.
///
/// The tower units never form their generated weights `[B, H, H]`, and the attention unit forms
/// its `[B, H + Te, H]` only when the scenario rows take many distinct values, which a scene
/// embedding does not (see `MetaUnit.callAsFunction(_:scenario:)`). Formed, the T·L + 1 units'
/// weights would be about 43M floats (170 MB) at B = 1024 with the defaults and T = 3.
public final class M2M: RankingModel {
    public struct Options: Sendable, Equatable {
        public var experts = 4
        public var expertUnits: [Int] = [128, 64]
        public var taskEmbeddingWidth = 16
        public var sceneFeatures = ["scene"]
        public var scenarioWidth = 64
        public var metaLayers = 3
        public var dropout: Float = 0
        public init() {}
    }

    /// Intermediate values of one forward pass, for inspection and tests.
    public struct Trace {
        /// Scenario representation z, `[B, Z]`.
        public let scenario: Variable
        /// Expert outputs, `[B, E, H]`.
        public let experts: Variable
        /// Attention weights α, `[B, T, E]`. For each row and task they sum to 1 over the experts.
        public let attention: Variable
        /// Logits, `[B, T]`.
        public let logits: Variable
    }

    public let taskCount: Int
    let options: Options
    let layout: FeatureLayout
    let sceneFeatures: [Int]
    /// `experts[e][l]`: hidden layer l of expert e.
    let experts: [[Dense]]
    /// Task embeddings τ, `[T, Te]`.
    let taskEmbeddings: Parameter
    /// The scenario view, `[Σ widths of the scene features, Z]`.
    let scenarioLayer: Dense
    /// Meta unit of the attention, `[H + Te, H]`.
    public let attentionUnit: MetaUnit
    /// Attention score vector v, `[H, 1]`. It has no bias, because softmax ignores a shift shared by
    /// all experts, so such a bias would never receive a gradient.
    let scoreVector: Parameter
    /// `towerUnits[t][l]`: meta unit l of task t's tower, `[H, H]`.
    public let towerUnits: [[MetaUnit]]
    /// `heads[t]`: `[H, 1]`.
    let heads: [Dense]
    /// Forces every meta unit to form its weights (true) or not (false); nil lets each unit choose.
    /// Both compute the same function, which tests compare.
    var metaUnitsFormWeights: Bool?

    public init(options: Options, layout: FeatureLayout, taskCount: Int, seed: UInt64) throws {
        guard options.experts > 0 else {
            throw ModelError.invalidOption(option: "model.experts", message: "must be positive, got \(options.experts)")
        }
        guard !options.expertUnits.isEmpty, options.expertUnits.allSatisfy({ $0 > 0 }) else {
            throw ModelError.invalidOption(option: "model.expertUnits",
                                          message: "needs one or more positive widths, got \(options.expertUnits)")
        }
        guard options.taskEmbeddingWidth > 0 else {
            throw ModelError.invalidOption(option: "model.taskEmbeddingWidth",
                                          message: "must be positive, got \(options.taskEmbeddingWidth)")
        }
        guard options.scenarioWidth > 0 else {
            throw ModelError.invalidOption(option: "model.scenarioWidth",
                                          message: "must be positive, got \(options.scenarioWidth)")
        }
        guard options.metaLayers > 0 else {
            throw ModelError.invalidOption(option: "model.metaLayers", message: "must be positive, got \(options.metaLayers)")
        }
        guard options.dropout >= 0, options.dropout < 1 else {
            throw ModelError.invalidOption(option: "model.dropout", message: "must be in [0, 1), got \(options.dropout)")
        }
        guard !options.sceneFeatures.isEmpty, Set(options.sceneFeatures).count == options.sceneFeatures.count else {
            throw ModelError.invalidOption(option: "model.sceneFeatures",
                                          message: "needs one or more distinct feature names, got \(options.sceneFeatures)")
        }
        guard taskCount > 0 else {
            throw ModelError.invalidOption(option: "data.tasks", message: "M2M needs at least one task")
        }
        self.options = options
        self.layout = layout
        self.taskCount = taskCount
        sceneFeatures = try options.sceneFeatures.map { try layout.index(of: $0, option: "model.sceneFeatures") }

        var generator = RandomGenerator(seed: seed)
        experts = (0..<options.experts).map { expert in
            var inputWidth = layout.totalWidth
            return options.expertUnits.enumerated().map { layer, units in
                defer { inputWidth = units }
                return Dense(name: "expert\(expert).dense\(layer)", inputWidth: inputWidth, outputWidth: units,
                             generator: &generator)
            }
        }
        taskEmbeddings = Parameter(name: "task.embeddings",
                                   value: Initializer.glorotUniform.makeTensor(
                                       shape: [taskCount, options.taskEmbeddingWidth], generator: &generator))
        let sceneWidth = sceneFeatures.reduce(0) { $0 + layout.widths[$1] }
        scenarioLayer = Dense(name: "scenario.dense", inputWidth: sceneWidth, outputWidth: options.scenarioWidth,
                              generator: &generator)

        let expertWidth = options.expertUnits.last!
        attentionUnit = MetaUnit(name: "attention.meta", scenarioWidth: options.scenarioWidth,
                                 inputWidth: expertWidth + options.taskEmbeddingWidth, outputWidth: expertWidth,
                                 generator: &generator)
        scoreVector = Parameter(name: "attention.score.weight",
                                value: Initializer.glorotUniform.makeTensor(shape: [expertWidth, 1], generator: &generator))
        towerUnits = (0..<taskCount).map { task in
            (0..<options.metaLayers).map { layer in
                MetaUnit(name: "tower\(task).meta\(layer)", scenarioWidth: options.scenarioWidth,
                         inputWidth: expertWidth, outputWidth: expertWidth, generator: &generator)
            }
        }
        heads = (0..<taskCount).map { task in
            Dense(name: "tower\(task).head", inputWidth: expertWidth, outputWidth: 1, generator: &generator)
        }
    }

    static let entry = ModelEntry(
        name: "m2m",
        summary: "M2M: shared experts mixed per task by a meta attention, then residual meta towers, "
            + "with every meta unit's weights generated from the scenario",
        options: [
            ("experts", "number of shared experts E (default 4)"),
            ("expertUnits", "widths of each expert's hidden layers; the last is the width H of the attention and towers (default [128, 64])"),
            ("taskEmbeddingWidth", "width of each task's learned embedding (default 16)"),
            ("sceneFeatures", "features whose embeddings form the scenario view's input (default [\"scene\"])"),
            ("scenarioWidth", "width Z of the scenario representation that generates the meta weights (default 64)"),
            ("metaLayers", "number of residual meta units in each task's tower (default 3)"),
            ("dropout", "dropout rate after each expert layer and each tower meta unit (default 0)"),
        ],
        make: { reader, context in
            var options = Options()
            options.experts = try reader.int("experts", default: options.experts)
            options.expertUnits = try reader.intArray("expertUnits", default: options.expertUnits)
            options.taskEmbeddingWidth = try reader.int("taskEmbeddingWidth", default: options.taskEmbeddingWidth)
            options.sceneFeatures = try reader.stringArray("sceneFeatures", default: options.sceneFeatures)
            options.scenarioWidth = try reader.int("scenarioWidth", default: options.scenarioWidth)
            options.metaLayers = try reader.int("metaLayers", default: options.metaLayers)
            options.dropout = try reader.float("dropout", default: options.dropout)
            return try M2M(options: options, layout: context.layout, taskCount: context.taskCount, seed: context.seed)
        })

    public var parameters: [Parameter] {
        experts.flatMap { $0.flatMap(\.parameters) } + [taskEmbeddings] + scenarioLayer.parameters
            + attentionUnit.parameters + [scoreVector]
            + zip(towerUnits, heads).flatMap { units, head in units.flatMap(\.parameters) + head.parameters }
    }

    public func forward(embeddings: Variable, batch: BatchContext) -> Variable {
        trace(embeddings: embeddings, batch: batch).logits
    }

    /// Runs the forward pass and keeps the scenario representation, expert outputs and attention.
    /// - Parameters:
    ///   - embeddings: `[B, F·D]`.
    ///   - batch: dropout seeds of the B rows.
    public func trace(embeddings: Variable, batch: BatchContext) -> Trace {
        let rows = embeddings.shape[0]
        let expertCount = experts.count
        let expertWidth = options.expertUnits.last!
        let blocks = split(embeddings, sizes: layout.widths)

        let scenario = relu(scenarioLayer(concat(sceneFeatures.map { blocks[$0] })))

        var expertOutputs: [Variable] = []
        for (expert, layers) in experts.enumerated() {
            var hidden = embeddings
            for (layer, dense) in layers.enumerated() {
                hidden = rowSeededDropout(dense(hidden, activation: .relu), rate: options.dropout, rowSeeds: batch.rowSeeds,
                                          layer: UInt64(expert * 64 + layer))
            }
            expertOutputs.append(hidden)
        }
        let stackedExperts = reshape(concat(expertOutputs), [rows, expertCount, expertWidth])

        let attention = metaAttention(experts: stackedExperts, scenario: scenario)

        // r = α · experts per row: [B, T, E] · [B, E, H] = [B, T, H].
        let representations = split(reshape(batchedMatmul(attention, stackedExperts), [rows, taskCount * expertWidth]),
                                    sizes: Array(repeating: expertWidth, count: taskCount))
        var logits: [Variable] = []
        for task in 0..<taskCount {
            var hidden = representations[task]
            for (layer, unit) in towerUnits[task].enumerated() {
                let update = rowSeededDropout(applyMetaUnit(unit, hidden, scenario: scenario), rate: options.dropout,
                                              rowSeeds: batch.rowSeeds, layer: UInt64(4096 + task * 64 + layer))
                hidden = hidden + update
            }
            logits.append(heads[task](hidden))
        }
        return Trace(scenario: scenario, experts: stackedExperts, attention: attention, logits: concat(logits))
    }

    /// Returns the attention weights α `[B, T, E]` for experts `[B, E, H]` and z `[B, Z]`.
    func metaAttention(experts: Variable, scenario: Variable) -> Variable {
        let graph = experts.graph
        let rows = experts.shape[0]
        let expertCount = experts.shape[1]
        let expertWidth = experts.shape[2]
        let taskWidth = options.taskEmbeddingWidth

        // Pair every task with every expert as rows [B, T·E, H + Te], in task-major order. Adding
        // zeros repeats a tensor along an axis of extent 1 by broadcasting, and backward sums the
        // repeats back.
        let expertsPerTask = reshape(reshape(experts, [rows, 1, expertCount * expertWidth])
                                         + graph.constant(Tensor(zeros: [1, taskCount, 1])),
                                     [rows, taskCount * expertCount, expertWidth])
        let taskPerExpert = concat(Array(repeating: graph.parameter(taskEmbeddings), count: expertCount))
        let tasksPerRow = reshape(reshape(taskPerExpert, [1, taskCount, expertCount * taskWidth])
                                      + graph.constant(Tensor(zeros: [rows, 1, 1])),
                                  [rows, taskCount * expertCount, taskWidth])
        let pairs = concat([expertsPerTask, tasksPerRow])

        let hidden = applyMetaUnit(attentionUnit, pairs, scenario: scenario)
        let scores = batchedMatmul(hidden, graph.parameter(scoreVector))
        return softmax(reshape(scores, [rows, taskCount, expertCount]))
    }

    /// Applies `unit` to x `[B, N]` or `[B, K, N]`, in the way `metaUnitsFormWeights` forces if set.
    func applyMetaUnit(_ unit: MetaUnit, _ x: Variable, scenario: Variable) -> Variable {
        guard let forming = metaUnitsFormWeights else { return unit(x, scenario: scenario) }
        return unit(x, scenario: scenario, formingWeights: forming)
    }
}
