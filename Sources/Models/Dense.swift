import TensorCore

/// A fully connected layer `y = x · W + b`.
///
/// `W` is `[N, M]` (input width first, so the forward is one GEMM without a transpose) and
/// initialized Glorot-uniform; `b` is `[M]`, initialized to zeros unless a bias initializer is given.
public final class Dense {
    public let weight: Parameter
    public let bias: Parameter

    public init(name: String, inputWidth: Int, outputWidth: Int, generator: inout RandomGenerator,
                biasInitializer: Initializer = .zeros) {
        weight = Parameter(name: name + ".weight",
                           value: Initializer.glorotUniform.makeTensor(shape: [inputWidth, outputWidth],
                                                                        generator: &generator))
        bias = Parameter(name: name + ".bias",
                         value: biasInitializer.makeTensor(shape: [outputWidth], generator: &generator))
    }

    public var parameters: [Parameter] { [weight, bias] }
    public var inputWidth: Int { weight.shape[0] }
    public var outputWidth: Int { weight.shape[1] }

    /// Applies the layer and then `activation` (in the same pass) to `x` `[B, N]`, returning `[B, M]`.
    public func callAsFunction(_ x: Variable, activation: FusedActivation = .identity) -> Variable {
        linear(x, weight: x.graph.parameter(weight), bias: x.graph.parameter(bias), activation: activation)
    }
}
