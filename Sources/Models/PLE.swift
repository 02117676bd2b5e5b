import TensorCore

/// PLE, progressive layered extraction (Tang et al., RecSys 2020): stacked levels of task-specific
/// and shared experts, so each task keeps experts of its own and shares the rest.
///
/// Level k (k = 0 ..< L) takes one input per task, `x_t` `[B, N]`, and a shared input `x_s`
/// `[B, N]`. Level 0 takes the embeddings `[B, F·D]` for all of them. With H the last expert width:
/// - task t owns K_t experts `h_t,i = expert_t,i(x_t)` and the level has K_s shared experts
///   `h_s,j = expert_s,j(x_s)`, each `[B, H]`;
/// - task t's gate `g_t = softmax(x_t · W_t + b_t)`, `[B, K_t + K_s]`, mixes only
///   `[h_t,0 … ‖ h_s,0 …]`, giving the next level's task input (or the tower input after the
///   last level);
/// - every level but the last, when it has shared experts, has a shared gate `g_s = softmax(x_s · W_s + b_s)`,
///   `[B, T·K_t + K_s]`, mixing all experts of the level (every task's, then the shared ones) into
///   the next level's shared input.
/// With u_t task t's mixture from the last level, towers and one-unit heads follow per task:
/// `z_t = head_t(tower_t(u_t))`, `[B, T]` in all.
/// Dropout, when set, follows every hidden layer of the experts and the towers.
public final class PLE: RankingModel {
    public struct Options: Sendable, Equatable {
        public var levels = 2
        public var taskExperts = 2
        public var sharedExperts = 2
        public var expertUnits = [64]
        public var towerUnits = [64]
        public var dropout: Float = 0
        public init() {}
    }

    public let taskCount: Int
    let options: Options
    public let levels: [ExtractionLevel]
    public let towers: TaskTowers

    public init(options: Options, layout: FeatureLayout, taskCount: Int, seed: UInt64) throws {
        guard options.levels > 0 else {
            throw ModelError.invalidOption(option: "model.levels", message: "must be positive, got \(options.levels)")
        }
        guard options.taskExperts >= 0 else {
            throw ModelError.invalidOption(option: "model.taskExperts",
                                          message: "must be zero or more, got \(options.taskExperts)")
        }
        guard options.sharedExperts >= 0 else {
            throw ModelError.invalidOption(option: "model.sharedExperts",
                                          message: "must be zero or more, got \(options.sharedExperts)")
        }
        guard options.taskExperts + options.sharedExperts > 0 else {
            throw ModelError.invalidOption(option: "model.taskExperts",
                                          message: "must be 1 or more when sharedExperts is 0, because every gate needs an expert")
        }
        try validateUnits(options.expertUnits, option: "model.expertUnits")
        try validateUnits(options.towerUnits, option: "model.towerUnits", allowEmpty: true)
        try validateDropout(options.dropout)
        guard taskCount > 0 else {
            throw ModelError.invalidOption(option: "data.tasks", message: "PLE needs at least one task")
        }
        self.options = options
        self.taskCount = taskCount

        var generator = RandomGenerator(seed: seed)
        var nextDropoutLayer: UInt64 = 0
        var levels: [ExtractionLevel] = []
        var inputWidth = layout.totalWidth
        for level in 0..<options.levels {
            levels.append(ExtractionLevel(name: "level\(level)", inputWidth: inputWidth, options: options,
                                          taskCount: taskCount, isLast: level == options.levels - 1,
                                          nextDropoutLayer: &nextDropoutLayer, generator: &generator))
            inputWidth = options.expertUnits.last!
        }
        self.levels = levels
        towers = TaskTowers(inputWidth: inputWidth, units: options.towerUnits, taskCount: taskCount,
                            dropout: options.dropout, nextDropoutLayer: &nextDropoutLayer, generator: &generator)
    }

    static let entry = ModelEntry(
        name: "ple",
        summary: "PLE: levels of task-specific and shared ReLU experts with per-task and shared softmax gates",
        options: [
            ("levels", "number of extraction levels L (default 2)"),
            ("taskExperts", "experts owned by each task in every level, 0 or more (default 2)"),
            ("sharedExperts", "experts shared by all tasks in every level, 0 or more (default 2)"),
            ("expertUnits", "widths of each expert's ReLU layers; the last is the mixture width H (default [64])"),
            ("towerUnits", "widths of each task tower's ReLU layers before its head; [] puts the head on the mixture (default [64])"),
            ("dropout", "dropout rate after every hidden layer of the experts and towers (default 0)"),
        ],
        make: { reader, context in
            var options = Options()
            options.levels = try reader.int("levels", default: options.levels)
            options.taskExperts = try reader.int("taskExperts", default: options.taskExperts)
            options.sharedExperts = try reader.int("sharedExperts", default: options.sharedExperts)
            options.expertUnits = try reader.intArray("expertUnits", default: options.expertUnits)
            options.towerUnits = try reader.intArray("towerUnits", default: options.towerUnits)
            options.dropout = try reader.float("dropout", default: options.dropout)
            return try PLE(options: options, layout: context.layout, taskCount: context.taskCount, seed: context.seed)
        })

    public var parameters: [Parameter] { levels.flatMap(\.parameters) + towers.parameters }

    /// Returns the gate weights of every level: T task gates `[B, K_t + K_s]`, then, except in the
    /// last level or without shared experts, the shared gate `[B, T·K_t + K_s]`. Every row sums to 1.
    public func gateWeights(embeddings: Variable, batch: BatchContext) -> [[Variable]] {
        extract(embeddings: embeddings, batch: batch).gates
    }

    public func forward(embeddings: Variable, batch: BatchContext) -> Variable {
        towers(extract(embeddings: embeddings, batch: batch).taskInputs, rowSeeds: batch.rowSeeds)
    }

    /// Runs every level and returns the tower inputs, T tensors `[B, H]`, and each level's gates.
    private func extract(embeddings: Variable, batch: BatchContext) -> (taskInputs: [Variable], gates: [[Variable]]) {
        var taskInputs = Array(repeating: embeddings, count: taskCount)
        var sharedInput: Variable? = embeddings
        var gates: [[Variable]] = []
        for level in levels {
            let output = level(taskInputs: taskInputs, sharedInput: sharedInput, rowSeeds: batch.rowSeeds)
            taskInputs = output.taskOutputs
            sharedInput = output.sharedOutput
            gates.append(output.gates)
        }
        return (taskInputs, gates)
    }
}

/// One level of PLE: per-task experts, shared experts, a softmax gate per task and, unless it is
/// the last level or has no shared experts, a shared gate. See `PLE` for the formula.
public final class ExtractionLevel {
    /// `taskExperts[t][i]`: expert i of task t, `<name>.task<t>.expert<i>.dense<l>`.
    public let taskExperts: [[ReLUStack]]
    /// `<name>.shared.expert<j>.dense<l>`.
    public let sharedExperts: [ReLUStack]
    /// Gate of task t, `<name>.task<t>.gate`: `[B, N] → [B, K_t + K_s]`.
    public let taskGates: [Dense]
    /// `<name>.shared.gate`: `[B, N] → [B, T·K_t + K_s]`, or nil when no later level reads a shared input.
    public let sharedGate: Dense?

    init(name: String, inputWidth: Int, options: PLE.Options, taskCount: Int, isLast: Bool,
         nextDropoutLayer: inout UInt64, generator: inout RandomGenerator) {
        func makeExpert(_ expertName: String) -> ReLUStack {
            ReLUStack(name: expertName, inputWidth: inputWidth, units: options.expertUnits, dropout: options.dropout,
                      nextDropoutLayer: &nextDropoutLayer, generator: &generator)
        }
        taskExperts = (0..<taskCount).map { task in
            (0..<options.taskExperts).map { expert in makeExpert("\(name).task\(task).expert\(expert)") }
        }
        sharedExperts = (0..<options.sharedExperts).map { expert in makeExpert("\(name).shared.expert\(expert)") }
        taskGates = (0..<taskCount).map { task in
            Dense(name: "\(name).task\(task).gate", inputWidth: inputWidth,
                  outputWidth: options.taskExperts + options.sharedExperts, generator: &generator)
        }
        if isLast || options.sharedExperts == 0 {
            sharedGate = nil
        } else {
            sharedGate = Dense(name: "\(name).shared.gate", inputWidth: inputWidth,
                               outputWidth: taskCount * options.taskExperts + options.sharedExperts,
                               generator: &generator)
        }
    }

    public var parameters: [Parameter] {
        taskExperts.joined().flatMap(\.parameters) + sharedExperts.flatMap(\.parameters)
            + taskGates.flatMap(\.parameters) + (sharedGate?.parameters ?? [])
    }

    /// Maps T task inputs `[B, N]` and the shared input `[B, N]` to T task outputs `[B, H]`, the
    /// shared output `[B, H]` (nil without a shared gate) and the gate weights, task gates first.
    /// The shared input may be nil only when the level has no shared experts.
    func callAsFunction(taskInputs: [Variable], sharedInput: Variable?, rowSeeds: [UInt64])
        -> (taskOutputs: [Variable], sharedOutput: Variable?, gates: [Variable]) {
        precondition(taskInputs.count == taskGates.count,
                     "expected \(taskGates.count) task inputs, got \(taskInputs.count)")
        let shared: [Variable] = sharedExperts.isEmpty ? [] : sharedExperts.map { $0(sharedInput!, rowSeeds: rowSeeds) }
        let owned = zip(taskExperts, taskInputs).map { experts, input in
            experts.map { $0(input, rowSeeds: rowSeeds) }
        }

        var gates: [Variable] = []
        var taskOutputs: [Variable] = []
        for (task, gate) in taskGates.enumerated() {
            let weights = softmax(gate(taskInputs[task]))
            gates.append(weights)
            taskOutputs.append(mixExperts(owned[task] + shared, gates: weights))
        }

        var sharedOutput: Variable?
        if let sharedGate {
            let weights = softmax(sharedGate(sharedInput!))
            gates.append(weights)
            sharedOutput = mixExperts(owned.flatMap { $0 } + shared, gates: weights)
        }
        return (taskOutputs, sharedOutput, gates)
    }
}
