import TensorCore

/// PEPNet (Chang et al., KDD 2023): embedding personalization (EPNet) plus parameter
/// personalization of the task towers (PPNet).
///
/// With E the concatenated embeddings `[B, F·D]`:
/// - EPNet: `O_ep = GateNU([e_scene ‖ sg(E)]) ⊙ E`, where sg stops the gradient, so the gate
///   learns from the scene embedding but does not move the embeddings it scales.
/// - PPNet: for each hidden layer l, `G_l = GateNU([persona ‖ sg(O_ep)])`, `[B, T·N_l]`, split into
///   T gates of width N_l. Tower t computes `h = G_l[t] ⊙ relu(h · W_tl + b_tl)` then dropout,
///   starting from `h = O_ep`, and ends in a one-unit head. Persona is the concatenated
///   embeddings of the persona features (user, item and author ids by default).
public final class PEPNet: RankingModel {
    public struct Options: Sendable, Equatable {
        public var hiddenUnits: [Int] = [128, 64]
        public var dropout: Float = 0.1
        public var gateGamma: Float = 2
        /// Width of each GateNU's hidden layer; nil uses the gate's output width.
        public var gateHiddenWidth: Int? = nil
        public var sceneFeature = "scene"
        public var personaFeatures = ["user_id", "video_id", "author_id"]
        public init() {}
    }

    public let taskCount: Int
    let options: Options
    let layout: FeatureLayout
    let sceneFeature: Int
    let personaFeatures: [Int]
    let embeddingGate: GateNU
    /// One gate per hidden layer, each producing the gates of all T towers.
    let towerGates: [GateNU]
    /// `towers[t][l]`: layer l of task t's tower.
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
        if let width = options.gateHiddenWidth, width < 1 {
            throw ModelError.invalidOption(option: "model.gateHiddenWidth", message: "must be positive, got \(width)")
        }
        guard options.gateGamma > 0 else {
            throw ModelError.invalidOption(option: "model.gateGamma", message: "must be positive, got \(options.gateGamma)")
        }
        guard taskCount > 0 else {
            throw ModelError.invalidOption(option: "data.tasks", message: "PEPNet needs at least one task")
        }
        self.options = options
        self.layout = layout
        self.taskCount = taskCount
        sceneFeature = try layout.index(of: options.sceneFeature, option: "model.sceneFeature")
        personaFeatures = try options.personaFeatures.map { try layout.index(of: $0, option: "model.personaFeatures") }

        var generator = RandomGenerator(seed: seed)
        let width = layout.totalWidth
        embeddingGate = GateNU(name: "epnet.gate", inputWidth: layout.widths[sceneFeature] + width,
                               outputWidth: width, hiddenWidth: options.gateHiddenWidth,
                               gamma: options.gateGamma, generator: &generator)
        let personaWidth = personaFeatures.reduce(0) { $0 + layout.widths[$1] }
        towerGates = options.hiddenUnits.enumerated().map { layer, units in
            GateNU(name: "ppnet.gate\(layer)", inputWidth: personaWidth + width, outputWidth: taskCount * units,
                   hiddenWidth: options.gateHiddenWidth, gamma: options.gateGamma, generator: &generator)
        }
        var towers: [[Dense]] = []
        var heads: [Dense] = []
        for task in 0..<taskCount {
            var inputWidth = width
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
        name: "pepnet",
        summary: "PEPNet: scene-conditioned GateNU on the embeddings (EPNet) and on every tower layer (PPNet)",
        options: [
            ("hiddenUnits", CommonOptionHelp.hiddenUnits),
            ("dropout", CommonOptionHelp.dropout),
            ("gateGamma", "upper bound gamma of every GateNU output (default 2)"),
            ("gateHiddenWidth", "hidden width of every GateNU (default: the gate's output width)"),
            ("sceneFeature", "feature whose embedding conditions EPNet (default \"scene\")"),
            ("personaFeatures", "features whose embeddings form PPNet's persona input (default [\"user_id\", \"video_id\", \"author_id\"])"),
        ],
        make: { reader, context in
            var options = Options()
            options.hiddenUnits = try reader.intArray("hiddenUnits", default: options.hiddenUnits)
            options.dropout = try reader.float("dropout", default: options.dropout)
            options.gateGamma = try reader.float("gateGamma", default: options.gateGamma)
            options.gateHiddenWidth = try reader.optionalInt("gateHiddenWidth")
            options.sceneFeature = try reader.string("sceneFeature", default: options.sceneFeature)
            options.personaFeatures = try reader.stringArray("personaFeatures", default: options.personaFeatures)
            return try PEPNet(options: options, layout: context.layout, taskCount: context.taskCount, seed: context.seed)
        })

    public var parameters: [Parameter] {
        embeddingGate.parameters + towerGates.flatMap(\.parameters)
            + zip(towers, heads).flatMap { tower, head in tower.flatMap(\.parameters) + head.parameters }
    }

    public func forward(embeddings: Variable, batch: BatchContext) -> Variable {
        func block(_ feature: Int) -> Variable {
            slice(embeddings, columns: layout.offsets[feature] ..< layout.offsets[feature] + layout.widths[feature])
        }

        // EPNet: personalize the embeddings by scene.
        let gateInput = concat([block(sceneFeature), stopGradient(embeddings)])
        let personalized = embeddingGate(gateInput) * embeddings

        // PPNet: one gate per hidden layer, shared input, producing the gates of all T towers
        // side by side, `[B, T·N_l]`, which is also the layout of the packed towers below.
        let persona = personaFeatures.map(block)
        let towerGateInput = concat(persona + [stopGradient(personalized)])
        let gatesByLayer = towerGates.map { $0(towerGateInput) }

        // The T towers run packed: layer 0 reads O_ep for every task as one GEMM, deeper layers
        // and the heads are block-diagonal, so no tower's activations are split or copied.
        let graph = embeddings.graph
        var hidden = personalized
        for layer in options.hiddenUnits.indices {
            let denses = towers.map { $0[layer] }
            let weights = denses.map { graph.parameter($0.weight) }
            let biases = denses.map { graph.parameter($0.bias) }
            if layer == 0 {
                hidden = packedLinear(hidden, weights: weights, biases: biases,
                                      activations: Array(repeating: .relu, count: taskCount))
            } else {
                hidden = blockDiagonalLinear(hidden, weights: weights, biases: biases, activation: .relu)
            }
            hidden = rowSeededDropout(gatesByLayer[layer] * hidden, rate: options.dropout, rowSeeds: batch.rowSeeds,
                                      blockLayers: (0..<taskCount).map { UInt64($0 * 64 + layer) })
        }
        return blockDiagonalLinear(hidden, weights: heads.map { graph.parameter($0.weight) },
                                   biases: heads.map { graph.parameter($0.bias) })
    }
}
