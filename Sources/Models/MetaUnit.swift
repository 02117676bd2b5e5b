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
/// The generated weights are not formed (see `callAsFunction(_:scenario:)`): forming them would
/// take one `[B, N, M]` tensor, for example 4M floats (16 MB) at B = 1024 and N = M = 64, and a
/// gradient of the same size, and one small GEMM per row.
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
    ///
    /// The product `x_b · W_b` runs through `generatedCoreProduct`, which never forms the `[B, N, M]`
    /// weights, except for a 3-D x whose scenario rows are mostly distinct: there the op's
    /// outer-product way would cost K times more than forming the weights.
    public func callAsFunction(_ x: Variable, scenario: Variable) -> Variable {
        let forming = x.shape.count == 3 && !generatedCoreProductGroupsRows(of: scenario.value)
        return callAsFunction(x, scenario: scenario, formingWeights: forming)
    }

    /// Applies the unit, forming the per-row weights `[B, N, M]` and multiplying them with
    /// `batchedMatmul` when `formingWeights` is true. Both ways compute the same function.
    public func callAsFunction(_ x: Variable, scenario: Variable, formingWeights: Bool) -> Variable {
        let rows = scenario.shape[0]
        precondition(x.shape.first == rows && x.shape.last == inputWidth && (x.shape.count == 2 || x.shape.count == 3),
                     "meta unit input must be [\(rows), \(inputWidth)] or [\(rows), K, \(inputWidth)], got \(x.shape)")
        let graph = x.graph
        let inputs = x.shape.count == 2 ? reshape(x, [rows, 1, inputWidth]) : x
        let product: Variable
        if formingWeights {
            product = batchedMatmul(inputs, generate(from: scenario).weight)
        } else {
            product = generatedCoreProduct(inputs, condition: scenario, weight: graph.parameter(weightGenerator.weight),
                                           bias: graph.parameter(weightGenerator.bias))
        }
        let activated = relu(product + reshape(biasGenerator(scenario), [rows, 1, outputWidth]))
        return x.shape.count == 2 ? reshape(activated, [rows, outputWidth]) : activated
    }
}
