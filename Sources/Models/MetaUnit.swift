import TensorCore

/// The meta unit of M2M: a dense layer whose weight and bias are generated for each row from that
/// row's scenario representation z `[B, Z]`.
///
/// For row b, with the generators' weights `G_W` `[Z, N·M]`, `G_b` `[Z, M]` and biases `c_W`
/// `[N·M]`, `c_b` `[M]`:
///
///     W_b = reshape(z_b · G_W + c_W)   [N, M]
///     β_b = z_b · G_b + c_b            [M]
///     y_b = relu(x_b · W_b + β_b)
///
/// `c_W` starts as a Glorot-uniform `[N, M]` matrix, so the unit starts as an ordinary dense layer
/// that z shifts per scenario. Starting it at zero would leave the generated weights as small as
/// z, and with small scene embeddings the towers would start with almost no signal.
///
/// Memory: the generated weights of a batch are one `[B, N, M]` tensor, for example 4M floats
/// (16 MB) at B = 1024 and N = M = 64, and backward needs a gradient of the same size.
public final class MetaUnit {
    /// Maps z to the flattened weight. Its bias is `c_W`.
    public let weightGenerator: Dense
    /// Maps z to the bias. Its bias is `c_b`.
    public let biasGenerator: Dense
    public let inputWidth: Int
    public let outputWidth: Int

    public init(name: String, scenarioWidth: Int, inputWidth: Int, outputWidth: Int,
                generator: inout RandomGenerator) {
        let limit = (6 / Float(inputWidth + outputWidth)).squareRoot()
        weightGenerator = Dense(name: name + ".weightGenerator", inputWidth: scenarioWidth,
                                outputWidth: inputWidth * outputWidth, generator: &generator,
                                biasInitializer: .uniform(low: -limit, high: limit))
        biasGenerator = Dense(name: name + ".biasGenerator", inputWidth: scenarioWidth, outputWidth: outputWidth,
                              generator: &generator)
        self.inputWidth = inputWidth
        self.outputWidth = outputWidth
    }

    public var parameters: [Parameter] { weightGenerator.parameters + biasGenerator.parameters }

    /// Generates each row's weight `[B, N, M]` and bias `[B, M]` from z `[B, Z]`.
    public func generate(from scenario: Variable) -> (weight: Variable, bias: Variable) {
        let rows = scenario.shape[0]
        let weight = reshape(weightGenerator(scenario), [rows, inputWidth, outputWidth])
        return (weight, biasGenerator(scenario))
    }

    /// Applies the unit to x `[B, N]`, giving `[B, M]`, or to x `[B, K, N]`, giving `[B, K, M]`
    /// where all K inputs of row b share row b's generated weight and bias.
    public func callAsFunction(_ x: Variable, scenario: Variable) -> Variable {
        let rows = scenario.shape[0]
        precondition(x.shape.first == rows && x.shape.last == inputWidth && (x.shape.count == 2 || x.shape.count == 3),
                     "meta unit input must be [\(rows), \(inputWidth)] or [\(rows), K, \(inputWidth)], got \(x.shape)")
        let (weight, bias) = generate(from: scenario)

        let inputs = x.shape.count == 2 ? reshape(x, [rows, 1, inputWidth]) : x
        let product = batchedMatmul(inputs, weight) + reshape(bias, [rows, 1, outputWidth])
        let activated = relu(product)
        return x.shape.count == 2 ? reshape(activated, [rows, outputWidth]) : activated
    }
}
