import TensorCore

/// APG (Yan et al., NeurIPS 2022): an MLP of adaptive layers whose parameters are generated per
/// sample, then a one-unit head. Single-task: it predicts the config's first task.
///
/// With E the concatenated embeddings `[B, F·D]` and `h_0 = E`, layer l computes
/// `h_l = dropout(relu(h_{l-1} · V_l · S_l(c) · U_l + b_l))` (see `APGLayer`), where `S_l(c)`
/// `[B, K_l, K_l]` is generated from the condition c of each row:
/// - group: the scene embedding, `[B, D]`;
/// - mix: the scene, user and item embeddings concatenated, `[B, 3·D]`;
/// - self: the layer's own input `h_{l-1}`, `[B, N_l]`.
/// The head is `h_L · w + b`, returning logits `[B, 1]`.
public final class APG: RankingModel {
    /// The input from which each layer's generator produces S.
    public enum Condition: String, Sendable, CaseIterable {
        case group
        case mix
        /// The layer's own input, "self" in configs.
        case selfWise = "self"
    }

    public struct Options: Sendable, Equatable {
        public var hiddenUnits: [Int] = [256, 128]
        /// Rank K of every layer, or 0 for `ceil(min(N, M) / 4)` chosen per layer.
        public var rank = 0
        /// Inner width P of the factors `V = V1 · V2` and `U = U1 · U2`, or 0 for single matrices.
        public var overParameterizationWidth = 0
        public var condition = Condition.group
        /// Whether each layer's bias is generated per sample from the condition too.
        public var adaptiveBias = false
        public var dropout: Float = 0
        public var sceneFeature = "scene"
        public var userFeature = "user_id"
        public var itemFeature = "video_id"
        public init() {}
    }

    public let taskCount = 1
    let options: Options
    let layout: FeatureLayout
    /// Features whose embeddings form the condition, in order (none for `.selfWise`).
    let conditionFeatures: [Int]
    public let layers: [APGLayer]
    let head: Dense

    /// Creates the model. `taskCount` is the number of tasks in the data, of which APG predicts
    /// the first.
    public init(options: Options, layout: FeatureLayout, taskCount: Int, seed: UInt64) throws {
        guard !options.hiddenUnits.isEmpty, options.hiddenUnits.allSatisfy({ $0 > 0 }) else {
            throw ModelError.invalidOption(option: "model.hiddenUnits",
                                          message: "needs one or more positive widths, got \(options.hiddenUnits)")
        }
        guard options.rank >= 0 else {
            throw ModelError.invalidOption(option: "model.rank",
                                          message: "must be positive, or 0 for ceil(min(in, out) / 4), got \(options.rank)")
        }
        guard options.overParameterizationWidth >= 0 else {
            throw ModelError.invalidOption(option: "model.overParameterizationWidth",
                                          message: "must be 0 (off) or wider than every layer's rank, got \(options.overParameterizationWidth)")
        }
        guard options.dropout >= 0, options.dropout < 1 else {
            throw ModelError.invalidOption(option: "model.dropout", message: "must be in [0, 1), got \(options.dropout)")
        }
        guard taskCount > 0 else {
            throw ModelError.invalidOption(option: "data.tasks", message: "APG needs at least one task")
        }
        self.options = options
        self.layout = layout

        switch options.condition {
        case .group:
            conditionFeatures = [try layout.index(of: options.sceneFeature, option: "model.sceneFeature")]
        case .mix:
            conditionFeatures = [try layout.index(of: options.sceneFeature, option: "model.sceneFeature"),
                                 try layout.index(of: options.userFeature, option: "model.userFeature"),
                                 try layout.index(of: options.itemFeature, option: "model.itemFeature")]
        case .selfWise:
            conditionFeatures = []
        }
        let featureConditionWidth = conditionFeatures.reduce(0) { $0 + layout.widths[$1] }

        var generator = RandomGenerator(seed: seed)
        var layers: [APGLayer] = []
        var inputWidth = layout.totalWidth
        for (index, units) in options.hiddenUnits.enumerated() {
            let rank = options.rank > 0 ? options.rank : APG.defaultRank(inputWidth: inputWidth, outputWidth: units)
            var innerWidth: Int? = nil
            if options.overParameterizationWidth > 0 {
                guard options.overParameterizationWidth > rank else {
                    throw ModelError.invalidOption(
                        option: "model.overParameterizationWidth",
                        message: "must exceed the rank of every layer, but layer \(index) (\(inputWidth) → \(units)) "
                            + "has rank \(rank) and the width is \(options.overParameterizationWidth)")
                }
                innerWidth = options.overParameterizationWidth
            }
            let conditionWidth = options.condition == .selfWise ? inputWidth : featureConditionWidth
            layers.append(APGLayer(name: "apg\(index)", inputWidth: inputWidth, outputWidth: units, rank: rank,
                                   conditionWidth: conditionWidth, overParameterizationWidth: innerWidth,
                                   adaptiveBias: options.adaptiveBias, activation: .relu, generator: &generator))
            inputWidth = units
        }
        self.layers = layers
        head = Dense(name: "head", inputWidth: inputWidth, outputWidth: 1, generator: &generator)
    }

    /// Returns the rank K a layer gets when `rank` is 0: `ceil(min(N, M) / 4)`.
    public static func defaultRank(inputWidth: Int, outputWidth: Int) -> Int {
        (min(inputWidth, outputWidth) + 3) / 4
    }

    static let entry = ModelEntry(
        name: "apg",
        summary: "APG: MLP whose low-rank layers get a per-sample K×K core generated from the scene, ids or input (first task only)",
        options: [
            ("hiddenUnits", "widths of the adaptive layers (default [256, 128])"),
            ("rank", "inner width K of every adaptive layer; 0 uses ceil(min(in, out) / 4) per layer (default 0)"),
            ("overParameterizationWidth", "inner width P > K of the factor products V = V1·V2 and U = U1·U2 used in training; 0 turns it off (default 0)"),
            ("condition", "what the core generators read: \"group\" (scene embedding), \"mix\" (scene, user and item embeddings) or \"self\" (the layer's input) (default \"group\")"),
            ("adaptiveBias", "whether each layer's bias is generated per sample from the condition as well (default false)"),
            ("dropout", "dropout rate after each adaptive layer (default 0)"),
            ("sceneFeature", "feature whose embedding is the condition in group and mix modes (default \"scene\")"),
            ("userFeature", "user feature of the mix condition (default \"user_id\")"),
            ("itemFeature", "item feature of the mix condition (default \"video_id\")"),
        ],
        make: { reader, context in
            var options = Options()
            options.hiddenUnits = try reader.intArray("hiddenUnits", default: options.hiddenUnits)
            options.rank = try reader.int("rank", default: options.rank)
            options.overParameterizationWidth = try reader.int("overParameterizationWidth",
                                                               default: options.overParameterizationWidth)
            let condition = try reader.string("condition", default: options.condition.rawValue)
            guard let mode = Condition(rawValue: condition) else {
                throw ModelError.invalidOption(
                    option: "model.condition",
                    message: "unknown condition \"\(condition)\"; choose one of "
                        + Condition.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))
            }
            options.condition = mode
            options.adaptiveBias = try reader.bool("adaptiveBias", default: options.adaptiveBias)
            options.dropout = try reader.float("dropout", default: options.dropout)
            options.sceneFeature = try reader.string("sceneFeature", default: options.sceneFeature)
            options.userFeature = try reader.string("userFeature", default: options.userFeature)
            options.itemFeature = try reader.string("itemFeature", default: options.itemFeature)
            return try APG(options: options, layout: context.layout, taskCount: context.taskCount, seed: context.seed)
        })

    public var parameters: [Parameter] {
        layers.flatMap(\.parameters) + head.parameters
    }

    public func forward(embeddings: Variable, batch: BatchContext) -> Variable {
        var featureCondition: Variable? = nil
        if !conditionFeatures.isEmpty {
            featureCondition = selectColumns(embeddings, ranges: conditionFeatures.map {
                layout.offsets[$0] ..< layout.offsets[$0] + layout.widths[$0]
            })
        }

        var hidden = embeddings
        for (index, layer) in layers.enumerated() {
            hidden = layer(hidden, condition: featureCondition ?? hidden)
            hidden = rowSeededDropout(hidden, rate: options.dropout, rowSeeds: batch.rowSeeds, layer: UInt64(index))
        }
        return head(hidden)
    }
}
