import TensorCore

/// The gate unit of PEPNet: `gamma · sigmoid(W2 · relu(W1 · x + b1) + b2)`.
///
/// Its output lies in (0, gamma); with gamma = 2 a gate can amplify a signal as well as damp it,
/// and starts near 1 for small weights. The hidden width defaults to the output width.
public final class GateNU {
    public let hidden: Dense
    public let output: Dense
    public let gamma: Float

    public init(name: String, inputWidth: Int, outputWidth: Int, hiddenWidth: Int? = nil, gamma: Float = 2,
                generator: inout RandomGenerator) {
        let hiddenWidth = hiddenWidth ?? outputWidth
        hidden = Dense(name: name + ".hidden", inputWidth: inputWidth, outputWidth: hiddenWidth, generator: &generator)
        output = Dense(name: name + ".output", inputWidth: hiddenWidth, outputWidth: outputWidth, generator: &generator)
        self.gamma = gamma
    }

    public var parameters: [Parameter] { hidden.parameters + output.parameters }

    /// Maps `x` `[B, N]` to gates `[B, M]`.
    public func callAsFunction(_ x: Variable) -> Variable {
        output(hidden(x, activation: .relu), activation: .scaledSigmoid(scale: gamma))
    }
}
