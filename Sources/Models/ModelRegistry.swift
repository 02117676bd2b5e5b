/// Every model the trainer builds by name, in the order `trainer models` lists them.
public enum ModelRegistry {
    public static let entries: [ModelEntry] = [
        PEPNet.entry,
        MultiTaskMLP.entry,
        APG.entry,
        MMoE.entry,
        PLE.entry,
        SharedBottom.entry,
        M2M.entry,
        STAR.entry,
        HMoE.entry,
    ]

    public static func entry(named name: String) -> ModelEntry? {
        entries.first { $0.name == name }
    }
}

/// Option help shared by the models whose task towers are plain MLPs.
enum CommonOptionHelp {
    static let hiddenUnits = "widths of each task tower's hidden layers (default [128, 64])"
    static let dropout = "dropout rate after each hidden layer of the towers (default 0.1)"
}
