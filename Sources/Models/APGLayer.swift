import TensorCore

/// One adaptive layer of APG (Yan et al., "APG: Adaptive Parameter Generation Network for
/// Click-Through Rate Prediction", NeurIPS 2022): a low-rank dense layer whose K×K core is
/// generated per sample from a condition vector.
///
/// With rows as vectors, for input `x` `[B, N]` and condition `c` `[B, C]`:
///
///     S_i = reshape(c_i · W_S + b_S, [K, K])        per-sample core, [B, K, K]
///     y_i = act(x_i · V · S_i · U + b)              [B, M]
///
/// - `V` `[N, K]` and `U` `[K, M]` are shared by all samples. With over-parameterization of inner
///   width P they are products `V = V1 · V2` (`V1` `[N, P]`, `V2` `[P, K]`) and `U = U1 · U2`
///   (`U1` `[K, P]`, `U2` `[P, M]`). The products are formed once per batch, so a sample costs
///   the same as without over-parameterization; only the training dynamics differ.
/// - The generator `W_S` `[C, K·K]` is Glorot-initialized and its bias `b_S` `[K·K]` starts at the
///   flattened identity, so S_i ≈ I at the start. With a zero bias S_i would be about as small
///   as `c · W_S`, and the signal would vanish through the layers.
/// - With an adaptive bias, `b` becomes per sample too: `b_i = c_i · W_b + b`, `W_b` `[C, M]`
///   Glorot, `b` `[M]` zeros.
///
/// Every step is a per-row product, so output row i depends only on input row i and condition
/// row i.
public final class APGLayer {
    /// A shared factor: one matrix, or the product of two when over-parameterized.
    enum Factor {
        case single(Parameter)
        case product(Parameter, Parameter)

        init(name: String, rows: Int, columns: Int, innerWidth: Int?, generator: inout RandomGenerator) {
            guard let innerWidth else {
                self = .single(Parameter(name: name, value: Initializer.glorotUniform.makeTensor(
                    shape: [rows, columns], generator: &generator)))
                return
            }
            let left = Parameter(name: name + "1", value: Initializer.glorotUniform.makeTensor(
                shape: [rows, innerWidth], generator: &generator))
            let right = Parameter(name: name + "2", value: Initializer.glorotUniform.makeTensor(
                shape: [innerWidth, columns], generator: &generator))
            self = .product(left, right)
        }

        var parameters: [Parameter] {
            switch self {
            case .single(let matrix): return [matrix]
            case .product(let left, let right): return [left, right]
            }
        }

        /// Returns the factor as one matrix in `graph`.
        func matrix(in graph: Graph) -> Variable {
            switch self {
            case .single(let matrix):
                return graph.parameter(matrix)
            case .product(let left, let right):
                return matmul(graph.parameter(left), graph.parameter(right))
            }
        }
    }

    public let inputWidth: Int
    public let outputWidth: Int
    /// Inner width K of the low-rank product.
    public let rank: Int
    public let conditionWidth: Int
    public let activation: FusedActivation
    /// `V` `[N, K]`, or `V1` `[N, P]` and `V2` `[P, K]`.
    let down: Factor
    /// `U` `[K, M]`, or `U1` `[K, P]` and `U2` `[P, M]`.
    let up: Factor
    /// Maps the condition `[B, C]` to the flattened cores `[B, K·K]`.
    public let coreGenerator: Dense
    /// Maps the condition `[B, C]` to the per-sample bias `[B, M]`, or nil when the bias is shared.
    public let biasGenerator: Dense?
    /// The shared bias `b` `[M]`, or nil when `biasGenerator` carries it as its own bias.
    let sharedBias: Parameter?

    /// Creates a layer whose parameters are named `name.V`, `name.U`, `name.bias` (or `name.V1`,
    /// `name.V2`, `name.U1`, `name.U2` with `overParameterizationWidth`), `name.core.weight`,
    /// `name.core.bias` and, with `adaptiveBias`, `name.adaptiveBias.weight` and
    /// `name.adaptiveBias.bias` in place of `name.bias`.
    public init(name: String, inputWidth: Int, outputWidth: Int, rank: Int, conditionWidth: Int,
                overParameterizationWidth: Int? = nil, adaptiveBias: Bool = false,
                activation: FusedActivation = .relu, generator: inout RandomGenerator) {
        precondition(inputWidth > 0 && outputWidth > 0 && rank > 0 && conditionWidth > 0,
                     "APGLayer widths must be positive, got N \(inputWidth), M \(outputWidth), K \(rank), C \(conditionWidth)")
        if let width = overParameterizationWidth {
            precondition(width > rank, "over-parameterization width \(width) must exceed the rank \(rank)")
        }
        self.inputWidth = inputWidth
        self.outputWidth = outputWidth
        self.rank = rank
        self.conditionWidth = conditionWidth
        self.activation = activation
        down = Factor(name: name + ".V", rows: inputWidth, columns: rank, innerWidth: overParameterizationWidth,
                      generator: &generator)
        up = Factor(name: name + ".U", rows: rank, columns: outputWidth, innerWidth: overParameterizationWidth,
                    generator: &generator)

        coreGenerator = Dense(name: name + ".core", inputWidth: conditionWidth, outputWidth: rank * rank,
                              generator: &generator)
        var identity = Tensor(zeros: [rank * rank])
        for diagonal in 0..<rank { identity.scalars[diagonal * rank + diagonal] = 1 }
        coreGenerator.bias.value = identity

        if adaptiveBias {
            biasGenerator = Dense(name: name + ".adaptiveBias", inputWidth: conditionWidth, outputWidth: outputWidth,
                                  generator: &generator)
            sharedBias = nil
        } else {
            biasGenerator = nil
            sharedBias = Parameter(name: name + ".bias", value: Tensor(zeros: [outputWidth]))
        }
    }

    public var parameters: [Parameter] {
        down.parameters + up.parameters + coreGenerator.parameters
            + (biasGenerator?.parameters ?? []) + (sharedBias.map { [$0] } ?? [])
    }

    /// Generates the per-sample cores S `[B, K, K]` from the condition `[B, C]`.
    public func cores(condition: Variable) -> Variable {
        precondition(condition.shape.count == 2 && condition.shape[1] == conditionWidth,
                     "APGLayer condition must be [B, \(conditionWidth)], got \(condition.shape)")
        return reshape(coreGenerator(condition), [condition.shape[0], rank, rank])
    }

    /// Applies the layer to `x` `[B, N]` under `condition` `[B, C]`, returning `[B, M]`.
    ///
    /// A condition narrower than K takes `generatedCoreProduct`, which never forms the `[B, K, K]`
    /// cores. A wider one forms them (`callAsFunction(_:condition:formingCores:)`), because then
    /// that needs less memory. Both compute the same function.
    public func callAsFunction(_ x: Variable, condition: Variable) -> Variable {
        callAsFunction(x, condition: condition, formingCores: conditionWidth >= rank)
    }

    /// Applies the layer, forming the per-sample cores `[B, K, K]` when `formingCores` is true.
    public func callAsFunction(_ x: Variable, condition: Variable, formingCores: Bool) -> Variable {
        precondition(x.shape.count == 2 && x.shape[1] == inputWidth,
                     "APGLayer input must be [B, \(inputWidth)], got \(x.shape)")
        precondition(condition.shape[0] == x.shape[0],
                     "APGLayer condition has \(condition.shape[0]) rows but the input has \(x.shape[0])")
        let graph = x.graph
        let rows = x.shape[0]

        // [B, N] · [N, K] → [B, K], then each row times its own core: [B, 1, K] · [B, K, K].
        let projected = matmul(x, down.matrix(in: graph))
        let mixed: Variable
        if formingCores {
            mixed = reshape(batchedMatmul(reshape(projected, [rows, 1, rank]), cores(condition: condition)),
                            [rows, rank])
        } else {
            mixed = generatedCoreProduct(projected, condition: condition,
                                         weight: graph.parameter(coreGenerator.weight),
                                         bias: graph.parameter(coreGenerator.bias))
        }

        guard let biasGenerator else {
            return linear(mixed, weight: up.matrix(in: graph), bias: graph.parameter(sharedBias!),
                          activation: activation)
        }
        let preActivation = linear(mixed, weight: up.matrix(in: graph), bias: nil) + biasGenerator(condition)
        return activation == .relu ? relu(preActivation) : preActivation
    }
}
