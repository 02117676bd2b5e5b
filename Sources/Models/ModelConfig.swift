import TensorCore

/// The `model` section of a training config.
///
/// Options a model does not use are rejected, so a typo such as `gateGama` or a PEPNet option
/// given to the MLP fails before training instead of being ignored.
public struct ModelConfig: Codable, Sendable, Equatable {
    public var name: String
    /// Widths of the hidden layers of each task tower.
    public var hiddenUnits: [Int]?
    /// Dropout rate after each hidden layer of the towers.
    public var dropout: Float?
    /// PEPNet: the gates' upper bound gamma.
    public var gateGamma: Float?
    /// PEPNet: hidden width of every GateNU; the gate's output width when absent.
    public var gateHiddenWidth: Int?
    /// PEPNet: the feature whose embedding conditions EPNet.
    public var sceneFeature: String?
    /// PEPNet: the features whose embeddings form the persona input of PPNet.
    public var personaFeatures: [String]?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case name, hiddenUnits, dropout, gateGamma, gateHiddenWidth, sceneFeature, personaFeatures
    }

    public init(name: String) {
        self.name = name
    }

    /// The models `make` builds, with the options each accepts beside `name`.
    public static let knownModels: [(name: String, options: [CodingKeys])] = [
        ("pepnet", [.hiddenUnits, .dropout, .gateGamma, .gateHiddenWidth, .sceneFeature, .personaFeatures]),
        ("mlp", [.hiddenUnits, .dropout]),
    ]

    /// Builds the model with its dense parameters initialized from `seed`.
    public func make(layout: FeatureLayout, taskCount: Int, seed: UInt64) throws -> RankingModel {
        guard let entry = Self.knownModels.first(where: { $0.name == name }) else {
            throw ModelError.unknownModel(name: name, known: Self.knownModels.map(\.name))
        }
        try rejectOptions(notIn: entry.options)
        switch name {
        case "pepnet":
            var options = PEPNet.Options()
            options.hiddenUnits = hiddenUnits ?? options.hiddenUnits
            options.dropout = dropout ?? options.dropout
            options.gateGamma = gateGamma ?? options.gateGamma
            options.gateHiddenWidth = gateHiddenWidth
            options.sceneFeature = sceneFeature ?? options.sceneFeature
            options.personaFeatures = personaFeatures ?? options.personaFeatures
            return try PEPNet(options: options, layout: layout, taskCount: taskCount, seed: seed)
        default:
            var options = MultiTaskMLP.Options()
            options.hiddenUnits = hiddenUnits ?? options.hiddenUnits
            options.dropout = dropout ?? options.dropout
            return try MultiTaskMLP(options: options, layout: layout, taskCount: taskCount, seed: seed)
        }
    }

    private func rejectOptions(notIn accepted: [CodingKeys]) throws {
        let given: [(CodingKeys, Bool)] = [
            (.hiddenUnits, hiddenUnits != nil), (.dropout, dropout != nil), (.gateGamma, gateGamma != nil),
            (.gateHiddenWidth, gateHiddenWidth != nil), (.sceneFeature, sceneFeature != nil),
            (.personaFeatures, personaFeatures != nil),
        ]
        for (key, isSet) in given where isSet && !accepted.contains(key) {
            throw ModelError.invalidOption(
                option: "model.\(key.rawValue)",
                message: "is not an option of model \"\(name)\", which accepts \(accepted.map(\.rawValue).joined(separator: ", "))")
        }
    }
}
