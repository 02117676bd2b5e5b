/// Updates single rows of an embedding table `[R, D]`, for tables too large for a dense gradient.
///
/// Each row has `stateWidth(dimension:)` state floats, stored beside the table by the caller as
/// `[R, stateWidth]`. Per step, call `beginStep()` once, then `updateRow`, `updateRows` or
/// `applySparse` once for each row that received a gradient; other rows and their state are
/// untouched.
public protocol SparseRowOptimizer: AnyObject {
    var learningRate: Float { get set }
    /// The number of state floats per row of width `dimension`.
    func stateWidth(dimension: Int) -> Int
    /// Advances the step counter shared by all rows.
    func beginStep()
    /// Updates one row in place. `weights` and `gradient` have `dimension` floats, `state` has
    /// `stateWidth(dimension:)`.
    func updateRow(weights: UnsafeMutablePointer<Float>, state: UnsafeMutablePointer<Float>,
                   gradient: UnsafePointer<Float>, dimension: Int)
    /// Updates rows `rows[i]` of one table in order, with gradient row i of `gradients`, giving
    /// the bits `updateRow` gives. `weights` is the table `[R·D]`, `state` its state
    /// `[R·stateWidth]` and `gradients` `[rows.count·D]`. Rows must be unique and in range.
    func updateRows(weights: UnsafeMutablePointer<Float>, state: UnsafeMutablePointer<Float>,
                    rows: UnsafeBufferPointer<Int>, gradients: UnsafePointer<Float>, dimension: Int)
}

extension SparseRowOptimizer {
    public func updateRows(weights: UnsafeMutablePointer<Float>, state: UnsafeMutablePointer<Float>,
                           rows: UnsafeBufferPointer<Int>, gradients: UnsafePointer<Float>, dimension: Int) {
        let stateWidth = stateWidth(dimension: dimension)
        for (position, row) in rows.enumerated() {
            updateRow(weights: weights + row * dimension, state: state + row * stateWidth,
                      gradient: gradients + position * dimension, dimension: dimension)
        }
    }
}

/// Adagrad with one accumulator per row (as in FBGEMM's row-wise Adagrad):
/// `a ← a + mean(g²)`, `w ← w − lr·g/(sqrt(a) + ε)`. State width 1.
///
/// The caller fills new state with `initialAccumulator`, which this type only records.
public final class RowWiseAdagrad: SparseRowOptimizer {
    public var learningRate: Float
    public let initialAccumulator: Float
    public let epsilon: Float

    public init(learningRate: Float, initialAccumulator: Float = 0.1, epsilon: Float = 1e-7) {
        self.learningRate = learningRate
        self.initialAccumulator = initialAccumulator
        self.epsilon = epsilon
    }

    public func stateWidth(dimension: Int) -> Int { 1 }

    public func beginStep() {}

    public func updateRow(weights: UnsafeMutablePointer<Float>, state: UnsafeMutablePointer<Float>,
                          gradient: UnsafePointer<Float>, dimension: Int) {
        var squares: Float = 0
        for i in 0..<dimension { squares += gradient[i] * gradient[i] }
        state[0] += squares / Float(max(dimension, 1))
        let step = learningRate / (state[0].squareRoot() + epsilon)
        for i in 0..<dimension { weights[i] -= step * gradient[i] }
    }
}

/// Adam that updates only the rows given, as TensorFlow Addons' LazyAdam: each row keeps its own
/// `m` and `v` (state width `2·D`, `m` first), but the bias correction uses the global step
/// counted by `beginStep()`, so a row idle for some steps does not replay them.
/// The update is `Adam`'s, with the same ε convention. The caller fills new state with zeros.
public final class LazyAdam: SparseRowOptimizer {
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    /// The number of `beginStep()` calls. Restore it with the table state.
    public var stepCount: Int = 0
    private var correctedRate: Float = 0

    public init(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7) {
        precondition(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1,
                     "LazyAdam betas must be in [0, 1), got \(beta1) and \(beta2)")
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }

    public func stateWidth(dimension: Int) -> Int { 2 * dimension }

    public func beginStep() {
        stepCount += 1
        correctedRate = adamCorrectedRate(learningRate: learningRate, beta1: beta1, beta2: beta2, step: stepCount)
    }

    public func updateRow(weights: UnsafeMutablePointer<Float>, state: UnsafeMutablePointer<Float>,
                          gradient: UnsafePointer<Float>, dimension: Int) {
        precondition(stepCount > 0, "call LazyAdam.beginStep() before updating rows")
        adamUpdate(count: dimension, weights: weights, gradients: gradient, firstMoment: state,
                   secondMoment: state + dimension, beta1: beta1, beta2: beta2, epsilon: epsilon,
                   correctedRate: correctedRate)
    }

    /// Updates all rows in one loop, through the element update of `updateRow` (`adamUpdate`), so
    /// every bit matches `updateRow` with one call for many rows.
    public func updateRows(weights: UnsafeMutablePointer<Float>, state: UnsafeMutablePointer<Float>,
                           rows: UnsafeBufferPointer<Int>, gradients: UnsafePointer<Float>, dimension: Int) {
        precondition(stepCount > 0, "call LazyAdam.beginStep() before updating rows")
        let (beta1, beta2, epsilon, correctedRate) = (beta1, beta2, epsilon, correctedRate)
        for (position, row) in rows.enumerated() {
            let firstMoment = state + row * 2 * dimension
            adamUpdate(count: dimension, weights: weights + row * dimension,
                       gradients: gradients + position * dimension, firstMoment: firstMoment,
                       secondMoment: firstMoment + dimension, beta1: beta1, beta2: beta2,
                       epsilon: epsilon, correctedRate: correctedRate)
        }
    }
}

/// Updates each row of `rows` once: `weights` is the table `[R·D]`, `state` its optimizer state
/// `[R·stateWidth]`, and `gradients` `[n·D]` holds the gradient of `rows[i]` at row `i`. Rows
/// must be unique (sum duplicate gradients first). Does not call `beginStep()`.
public func applySparse(optimizer: SparseRowOptimizer, weights: UnsafeMutableBufferPointer<Float>,
                        state: UnsafeMutableBufferPointer<Float>, rows: [Int32],
                        gradients: UnsafeBufferPointer<Float>, dimension: Int) {
    precondition(dimension > 0, "dimension must be positive, got \(dimension)")
    precondition(weights.count % dimension == 0,
                 "weights hold \(weights.count) floats, not a multiple of dimension \(dimension)")
    let rowCount = weights.count / dimension
    let stateWidth = optimizer.stateWidth(dimension: dimension)
    precondition(state.count == rowCount * stateWidth,
                 "state holds \(state.count) floats, expected \(rowCount) rows × \(stateWidth)")
    precondition(gradients.count == rows.count * dimension,
                 "gradients hold \(gradients.count) floats, expected \(rows.count) rows × \(dimension)")
    precondition(Set(rows).count == rows.count, "applySparse rows must be unique; sum duplicate gradients first")

    for (position, row) in rows.enumerated() {
        precondition(row >= 0 && Int(row) < rowCount, "row \(row) is out of range for a table of \(rowCount) rows")
        let index = Int(row)
        optimizer.updateRow(weights: weights.baseAddress! + index * dimension,
                            state: state.baseAddress! + index * stateWidth,
                            gradient: gradients.baseAddress! + position * dimension, dimension: dimension)
    }
}
