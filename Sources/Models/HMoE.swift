import Foundation
import TensorCore

/// A hierarchical mixture of experts for multi-scene ranking: shared experts, a gate and a tower
/// per scene, and a learned scene-to-scene combination of the towers' logits.
///
/// With E the concatenated embeddings `[B, F·D]` and s_b the scene of row b:
/// - Experts, k = 1 … K (K = `experts`): `x_k = MLP_k(E)`, `[B, N]`, ReLU layers of widths
///   `expertUnits`, each followed by dropout.
/// - Scene gates and towers, for every scene s and every row: `g_s = softmax(E · V_s + c_s)`,
///   `[B, K]`, `m_s = Σ_k g_s[:, k] ⊙ x_k`, `[B, N]`, and `z_s = head_s(tower_s(m_s))`, `[B, T]`,
///   a ReLU tower of widths `towerUnits` and a linear head of T units. Tower s always reads gate s.
/// - Scene relation: `A = softmax(R)` row by row, with R `[S, S]` learned, so row s of A is a
///   distribution over scenes.
/// - Output logits: `z_b = Σ_s A[s_b, s] · ẑ_s[b]`, `[B, T]`, where `ẑ_s = z_s` for the row's own
///   scene (s = s_b) and `ẑ_s = stopGradient(z_s)` for the others. So a row trains only its own
///   scene's tower and gate, and the experts through them, although its prediction also uses the
///   other scenes' towers. The relation weights A train on every term.
///
/// The combination is of logits: a convex combination of the towers' logits is the model's logit,
/// and the trainer applies the only sigmoid.
///
/// R starts with `ln(max(S − 1, 1))` on the diagonal and 0 elsewhere, so at the start each row
/// weighs its own scene's tower by 1/2 (by 1 when S = 1) and the other scenes by 1/(2(S − 1)).
public final class HMoE: RankingModel {
    public struct Options: Sendable, Equatable {
        public var experts = 4
        public var expertUnits: [Int] = [128, 64]
        public var towerUnits: [Int] = [64]
        public var dropout: Float = 0
        public init() {}
    }

    public let taskCount: Int
    public let sceneCount: Int
    let options: Options
    /// `experts[k][l]`: layer l of expert k.
    let experts: [[Dense]]
    /// `gates[s]`: scene s's gate, `[F·D, K]`.
    public let gates: [Dense]
    /// `towers[s][l]`: layer l of scene s's tower.
    let towers: [[Dense]]
    /// `heads[s]`: scene s's output layer, `[N, T]`.
    public let heads: [Dense]
    /// Scene relation logits R `[S, S]`; row s, after a softmax, weighs the towers for rows of scene s.
    public let sceneRelation: Parameter

    public init(options: Options, layout: FeatureLayout, taskCount: Int, sceneCount: Int, seed: UInt64) throws {
        guard options.experts > 0 else {
            throw ModelError.invalidOption(option: "model.experts", message: "must be positive, got \(options.experts)")
        }
        guard !options.expertUnits.isEmpty, options.expertUnits.allSatisfy({ $0 > 0 }) else {
            throw ModelError.invalidOption(option: "model.expertUnits",
                                          message: "needs one or more positive widths, got \(options.expertUnits)")
        }
        guard options.towerUnits.allSatisfy({ $0 > 0 }) else {
            throw ModelError.invalidOption(option: "model.towerUnits",
                                          message: "needs positive widths (or none), got \(options.towerUnits)")
        }
        guard options.dropout >= 0, options.dropout < 1 else {
            throw ModelError.invalidOption(option: "model.dropout", message: "must be in [0, 1), got \(options.dropout)")
        }
        guard taskCount > 0 else {
            throw ModelError.invalidOption(option: "data.tasks", message: "HMoE needs at least one task")
        }
        guard sceneCount > 0 else {
            throw ModelError.invalidOption(option: "data.scene.values", message: "HMoE needs at least one scene")
        }
        self.options = options
        self.taskCount = taskCount
        self.sceneCount = sceneCount

        var generator = RandomGenerator(seed: seed)
        let inputWidth = layout.totalWidth
        experts = (0..<options.experts).map { expert in
            Self.makeStack(name: "expert\(expert)", inputWidth: inputWidth, units: options.expertUnits,
                           generator: &generator)
        }
        let expertWidth = options.expertUnits.last!
        gates = (0..<sceneCount).map { scene in
            Dense(name: "scene\(scene).gate", inputWidth: inputWidth, outputWidth: options.experts, generator: &generator)
        }
        towers = (0..<sceneCount).map { scene in
            Self.makeStack(name: "scene\(scene).tower", inputWidth: expertWidth, units: options.towerUnits,
                           generator: &generator)
        }
        let towerWidth = options.towerUnits.last ?? expertWidth
        heads = (0..<sceneCount).map { scene in
            Dense(name: "scene\(scene).head", inputWidth: towerWidth, outputWidth: taskCount, generator: &generator)
        }
        var relation = Tensor(zeros: [sceneCount, sceneCount])
        for scene in 0..<sceneCount {
            relation[scene, scene] = Float(log(Double(max(sceneCount - 1, 1))))
        }
        sceneRelation = Parameter(name: "sceneRelation.logits", value: relation)
    }

    private static func makeStack(name: String, inputWidth: Int, units: [Int],
                                  generator: inout RandomGenerator) -> [Dense] {
        var width = inputWidth
        var stack: [Dense] = []
        for (layer, outputWidth) in units.enumerated() {
            stack.append(Dense(name: "\(name).dense\(layer)", inputWidth: width, outputWidth: outputWidth,
                               generator: &generator))
            width = outputWidth
        }
        return stack
    }

    static let entry = ModelEntry(
        name: "hmoe",
        summary: "hierarchical MoE: shared experts, a gate and tower per scene, logits combined by learned scene-to-scene weights",
        options: [
            ("experts", "number of shared experts K (default 4)"),
            ("expertUnits", "widths of each expert's ReLU layers (default [128, 64])"),
            ("towerUnits", "widths of each scene tower's ReLU layers before its T-unit head; [] for a linear head (default [64])"),
            ("dropout", "dropout rate after each expert and tower layer (default 0)"),
        ],
        make: { reader, context in
            var options = Options()
            options.experts = try reader.int("experts", default: options.experts)
            options.expertUnits = try reader.intArray("expertUnits", default: options.expertUnits)
            options.towerUnits = try reader.intArray("towerUnits", default: options.towerUnits)
            options.dropout = try reader.float("dropout", default: options.dropout)
            return try HMoE(options: options, layout: context.layout, taskCount: context.taskCount,
                            sceneCount: context.sceneCount, seed: context.seed)
        })

    public var parameters: [Parameter] {
        var parameters: [Parameter] = experts.flatMap { $0.flatMap(\.parameters) }
        parameters += gates.flatMap(\.parameters)
        for (tower, head) in zip(towers, heads) {
            parameters += tower.flatMap(\.parameters) + head.parameters
        }
        return parameters + [sceneRelation]
    }

    public func forward(embeddings: Variable, batch: BatchContext) -> Variable {
        combine(sceneLogits: sceneLogits(embeddings: embeddings, batch: batch), batch: batch)
    }

    /// Returns every scene's tower logits `z_s` `[B, T]` for every row, S of them.
    public func sceneLogits(embeddings: Variable, batch: BatchContext) -> [Variable] {
        let expertOutputs = experts.enumerated().map { expert, stack in
            applyStack(stack, to: embeddings, batch: batch, layerBase: UInt64(expert * 64))
        }
        return (0..<sceneCount).map { scene in
            let gate = split(softmax(gates[scene](embeddings)), sizes: Array(repeating: 1, count: options.experts))
            var mixture = gate[0] * expertOutputs[0]
            for expert in 1..<options.experts {
                mixture = mixture + gate[expert] * expertOutputs[expert]
            }
            let hidden = applyStack(towers[scene], to: mixture, batch: batch, layerBase: (1 << 32) + UInt64(scene * 64))
            return heads[scene](hidden)
        }
    }

    /// Returns the relation weights `A[s_b, :]` of each row, `[B, S]`.
    public func relationWeights(batch: BatchContext, graph: Graph) -> Variable {
        gatherRows(softmax(graph.parameter(sceneRelation)), indices: batch.scenes)
    }

    /// Returns `z_b = Σ_s A[s_b, s] · ẑ_s[b]`, `[B, T]`, from the S scene logits `[B, T]`; only the
    /// row's own scene passes its gradient back into `z_s`.
    public func combine(sceneLogits: [Variable], batch: BatchContext) -> Variable {
        precondition(sceneLogits.count == sceneCount, "expected \(sceneCount) scene logits, got \(sceneLogits.count)")
        let graph = sceneLogits[0].graph
        let rows = batch.rowCount
        let weights = split(relationWeights(batch: batch, graph: graph), sizes: Array(repeating: 1, count: sceneCount))

        var output: Variable?
        for (scene, logits) in sceneLogits.enumerated() {
            // ownRows `[B, 1]` is 1 where the row belongs to this scene: m ⊙ z + (1 − m) ⊙ sg(z)
            // has the value of z, and the gradient of z only on the scene's own rows.
            let ownRows = Tensor(shape: [rows, 1], scalars: batch.scenes.map { Int($0) == scene ? 1 : 0 })
            let otherRows = Tensor(shape: [rows, 1], scalars: batch.scenes.map { Int($0) == scene ? 0 : 1 })
            let routed = graph.constant(ownRows) * logits + graph.constant(otherRows) * stopGradient(logits)
            let term = weights[scene] * routed
            output = output.map { $0 + term } ?? term
        }
        return output!
    }

    /// Runs `x` through the ReLU layers of `stack`, each followed by dropout.
    private func applyStack(_ stack: [Dense], to x: Variable, batch: BatchContext, layerBase: UInt64) -> Variable {
        var hidden = x
        for (layer, dense) in stack.enumerated() {
            hidden = rowSeededDropout(dense(hidden, activation: .relu), rate: options.dropout, rowSeeds: batch.rowSeeds,
                                      layer: layerBase + UInt64(layer))
        }
        return hidden
    }
}
