import TensorCore

// Building blocks shared by the mixture-of-experts models (MMoE, PLE) and the shared-bottom
// baseline: a ReLU MLP used for experts, bottoms and towers, and the per-row expert mixture.

/// A stack of ReLU layers `h = dropout(relu(h · W_l + b_l))`, l = 0 ..< L, starting from the input.
///
/// Layer l maps `[B, N_(l−1)]` to `[B, N_l]` with N_(−1) the input width, and an empty width list is
/// the identity. Each layer draws its dropout mask under its own layer id, taken in order from the
/// counter passed to `init`, so no two stacks of one model share a mask.
public final class ReLUStack {
    public let layers: [Dense]
    public let inputWidth: Int
    public let dropout: Float
    /// The `layer` argument of `rowSeededDropout` after each layer, unique within a model.
    public let dropoutLayerIDs: [UInt64]

    /// Creates the layers `<name>.dense<l>` and advances `nextDropoutLayer` by one per layer.
    init(name: String, inputWidth: Int, units: [Int], dropout: Float, nextDropoutLayer: inout UInt64,
         generator: inout RandomGenerator) {
        var layers: [Dense] = []
        var ids: [UInt64] = []
        var width = inputWidth
        for (layer, outputWidth) in units.enumerated() {
            layers.append(Dense(name: "\(name).dense\(layer)", inputWidth: width, outputWidth: outputWidth,
                                generator: &generator))
            ids.append(nextDropoutLayer)
            nextDropoutLayer += 1
            width = outputWidth
        }
        self.layers = layers
        self.inputWidth = inputWidth
        self.dropout = dropout
        dropoutLayerIDs = ids
    }

    public var parameters: [Parameter] { layers.flatMap(\.parameters) }

    /// Width of the output: the last layer's width, or the input width for an empty stack.
    public var outputWidth: Int { layers.last?.outputWidth ?? inputWidth }

    /// Maps `x` `[B, N]` to `[B, outputWidth]`. The row seeds `[B]` select each row's dropout masks.
    public func callAsFunction(_ x: Variable, rowSeeds: [UInt64]) -> Variable {
        var hidden = x
        for (dense, layerID) in zip(layers, dropoutLayerIDs) {
            hidden = rowSeededDropout(relu(dense(hidden)), rate: dropout, rowSeeds: rowSeeds, layer: layerID)
        }
        return hidden
    }
}

/// One ReLU tower and one-unit head per task: `z_t = head_t(tower_t(x_t))`, with parameters
/// `tower<t>.dense<l>` and `tower<t>.head`.
public final class TaskTowers {
    public let towers: [ReLUStack]
    public let heads: [Dense]

    init(inputWidth: Int, units: [Int], taskCount: Int, dropout: Float, nextDropoutLayer: inout UInt64,
         generator: inout RandomGenerator) {
        var towers: [ReLUStack] = []
        var heads: [Dense] = []
        for task in 0..<taskCount {
            let tower = ReLUStack(name: "tower\(task)", inputWidth: inputWidth, units: units, dropout: dropout,
                                  nextDropoutLayer: &nextDropoutLayer, generator: &generator)
            towers.append(tower)
            heads.append(Dense(name: "tower\(task).head", inputWidth: tower.outputWidth, outputWidth: 1,
                               generator: &generator))
        }
        self.towers = towers
        self.heads = heads
    }

    /// Each task's tower followed by its head.
    public var parameters: [Parameter] {
        zip(towers, heads).flatMap { tower, head in tower.parameters + head.parameters }
    }

    /// Maps the task inputs, T tensors `[B, N]`, to logits `[B, T]`, column t from input t.
    public func callAsFunction(_ inputs: [Variable], rowSeeds: [UInt64]) -> Variable {
        precondition(inputs.count == towers.count, "expected \(towers.count) task inputs, got \(inputs.count)")
        var logits: [Variable] = []
        for task in 0..<towers.count {
            logits.append(heads[task](towers[task](inputs[task], rowSeeds: rowSeeds)))
        }
        return concat(logits)
    }

    /// Maps the task inputs side by side, `[B, T·N]` with task t in columns `t·N ..< (t+1)·N`, to
    /// logits `[B, T]`. Each tower layer and the heads run as one block-diagonal layer over all
    /// tasks, so there is no split or concat. With `rowSeeds` `[B]`, each tower's block drops the
    /// units that `callAsFunction(_:rowSeeds:)` drops; without them none is dropped.
    public func callAsFunction(packedInputs inputs: Variable, rowSeeds: [UInt64]? = nil) -> Variable {
        let graph = inputs.graph
        var hidden = inputs
        for layer in 0..<(towers.first?.layers.count ?? 0) {
            let denses = towers.map { $0.layers[layer] }
            hidden = blockDiagonalLinear(hidden, weights: denses.map { graph.parameter($0.weight) },
                                         biases: denses.map { graph.parameter($0.bias) }, activation: .relu)
            if let rowSeeds, let dropout = towers.first?.dropout, dropout > 0 {
                hidden = rowSeededDropout(hidden, rate: dropout, rowSeeds: rowSeeds,
                                          blockLayers: towers.map { $0.dropoutLayerIDs[layer] })
            }
        }
        return blockDiagonalLinear(hidden, weights: heads.map { graph.parameter($0.weight) },
                                   biases: heads.map { graph.parameter($0.bias) })
    }
}

/// Mixes expert outputs row by row: `y_b = Σ_e g_be · x_e,b`.
///
/// Row b of the result depends only on row b of the gates and of every expert.
/// - Parameters:
///   - experts: E outputs, each `[B, H]`.
///   - gates: `[B, E]`, usually a softmax so that every row sums to 1.
/// - Returns: `[B, H]`.
public func mixExperts(_ experts: [Variable], gates: Variable) -> Variable {
    precondition(!experts.isEmpty, "mixExperts needs at least one expert")
    let rows = experts[0].shape[0]
    let width = experts[0].shape[1]
    for expert in experts {
        precondition(expert.shape == [rows, width],
                     "every expert output must be [\(rows), \(width)], got \(expert.shape)")
    }
    precondition(gates.shape == [rows, experts.count],
                 "gates must be [\(rows), \(experts.count)] for \(experts.count) experts, got \(gates.shape)")

    // [B, E·H] → [B, E, H], so one broadcast product with [B, E, 1] weights every expert.
    let stacked = reshape(concat(experts), [rows, experts.count, width])
    let weights = reshape(gates, [rows, experts.count, 1])
    return sum(stacked * weights, axis: 1)
}

/// Checks a list of layer widths from a model option: every width positive, and at least one
/// unless `allowEmpty`.
func validateUnits(_ units: [Int], option: String, allowEmpty: Bool = false) throws {
    guard allowEmpty || !units.isEmpty else {
        throw ModelError.invalidOption(option: option, message: "needs one or more positive widths, got []")
    }
    guard units.allSatisfy({ $0 > 0 }) else {
        throw ModelError.invalidOption(option: option, message: "every width must be positive, got \(units)")
    }
}

/// Checks a dropout rate from a model option.
func validateDropout(_ rate: Float, option: String = "model.dropout") throws {
    guard rate >= 0, rate < 1 else {
        throw ModelError.invalidOption(option: option, message: "must be in [0, 1), got \(rate)")
    }
}
