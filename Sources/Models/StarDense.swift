import TensorCore

/// A star-topology fully connected layer (STAR): one shared weight and one weight per scene,
/// combined element-wise, `y_b = activation(x_b · (W_shared ⊙ W_s) + (b_shared + b_s))` with s the
/// scene of row b.
///
/// `W_shared` is `[N, M]` Glorot-uniform and `b_shared` `[M]` zeros. The scene weights `W_s` are
/// `[S, N, M]` ones and the scene biases `b_s` `[S, M]` zeros, so every scene starts as the
/// shared layer and learns its own deviation from it.
///
/// The S combined matrices `[S, N, M]` are built once per step (S·N·M, independent of B), and the
/// rows of each scene go through one GEMM with their scene's matrix (`groupedLinear`).
public final class StarDense {
    public let sharedWeight: Parameter
    public let sharedBias: Parameter
    public let sceneWeight: Parameter
    public let sceneBias: Parameter

    public init(name: String, inputWidth: Int, outputWidth: Int, sceneCount: Int, generator: inout RandomGenerator) {
        sharedWeight = Parameter(name: name + ".shared.weight",
                                 value: Initializer.glorotUniform.makeTensor(shape: [inputWidth, outputWidth],
                                                                              generator: &generator))
        sharedBias = Parameter(name: name + ".shared.bias", value: Tensor(zeros: [outputWidth]))
        sceneWeight = Parameter(name: name + ".scene.weight",
                                value: Tensor(repeating: 1, shape: [sceneCount, inputWidth, outputWidth]))
        sceneBias = Parameter(name: name + ".scene.bias", value: Tensor(zeros: [sceneCount, outputWidth]))
    }

    public var parameters: [Parameter] { [sharedWeight, sharedBias, sceneWeight, sceneBias] }
    public var outputWidth: Int { sharedWeight.shape[1] }

    /// Maps `x` `[B, N]` to `[B, M]`, each row through its scene's combined weights.
    public func callAsFunction(_ x: Variable, groups: RowGroups, activation: FusedActivation) -> Variable {
        let graph = x.graph
        let weights = graph.parameter(sharedWeight) * graph.parameter(sceneWeight)
        let biases = graph.parameter(sharedBias) + graph.parameter(sceneBias)
        return groupedLinear(x, weights: weights, bias: biases, groups: groups, activation: activation)
    }
}
