#if canImport(Glibc)
import Glibc
#endif

/// Stochastic gradient descent, with optional heavy-ball momentum in the PyTorch form:
/// `v ← μ·v + g`, `w ← w − lr·v` (without momentum, `w ← w − lr·g`). State: `[v]` when
/// `momentum > 0`.
public final class SGD: ElementwiseOptimizer {
    public let momentum: Float

    public init(learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) {
        precondition(momentum >= 0 && momentum < 1, "momentum must be in [0, 1), got \(momentum)")
        self.momentum = momentum
        super.init(learningRate: learningRate, weightDecay: weightDecay)
    }

    override var stateInitialValues: [Float] { momentum > 0 ? [0] : [] }

    override func updateElements(count: Int, weights: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>,
                                 first: UnsafeMutablePointer<Float>?, second: UnsafeMutablePointer<Float>?) {
        let rate = learningRate
        guard let velocity = first else {
            for i in 0..<count { weights[i] -= rate * gradients[i] }
            return
        }
        for i in 0..<count {
            velocity[i] = momentum * velocity[i] + gradients[i]
            weights[i] -= rate * velocity[i]
        }
    }
}

/// Adam (Kingma and Ba, 2015) in the form Keras uses: at step t,
/// `m ← β₁·m + (1−β₁)·g`, `v ← β₂·v + (1−β₂)·g²`, `lr_t = lr·sqrt(1−β₂ᵗ)/(1−β₁ᵗ)`,
/// `w ← w − lr_t·m/(sqrt(v) + ε)`. The bias correction is folded into `lr_t`, so ε is added to
/// the uncorrected `sqrt(v)`. The default ε = 1e-7 is the Keras default (PyTorch uses 1e-8).
/// State: `[m, v]`.
public final class Adam: ElementwiseOptimizer {
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    private var correctedRate: Float = 0

    public init(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7,
                weightDecay: Float = 0) {
        precondition(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1,
                     "Adam betas must be in [0, 1), got \(beta1) and \(beta2)")
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        super.init(learningRate: learningRate, weightDecay: weightDecay)
    }

    override var stateInitialValues: [Float] { [0, 0] }

    override func beginStep() {
        correctedRate = adamCorrectedRate(learningRate: learningRate, beta1: beta1, beta2: beta2, step: stepCount)
    }

    override func updateElements(count: Int, weights: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>,
                                 first: UnsafeMutablePointer<Float>?, second: UnsafeMutablePointer<Float>?) {
        adamUpdate(count: count, weights: weights, gradients: gradients, firstMoment: first!,
                   secondMoment: second!, beta1: beta1, beta2: beta2, epsilon: epsilon, correctedRate: correctedRate)
    }
}

/// Returns `lr·sqrt(1−β₂ᵗ)/(1−β₁ᵗ)`, Adam's step size with both bias corrections, in Double.
func adamCorrectedRate(learningRate: Float, beta1: Float, beta2: Float, step: Int) -> Float {
    precondition(step > 0, "Adam steps count from 1, got \(step)")
    let t = Double(step)
    let correction = (1 - pow(Double(beta2), t)).squareRoot() / (1 - pow(Double(beta1), t))
    return Float(Double(learningRate) * correction)
}

/// The Adam element update of `count` contiguous elements, shared by `Adam` and `LazyAdam`. It
/// runs on the calling thread: `Adam` already splits a parameter into blocks over threads, and
/// a `LazyAdam` row is too short to split.
@inline(__always)
func adamUpdate(count: Int, weights: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>,
                firstMoment: UnsafeMutablePointer<Float>, secondMoment: UnsafeMutablePointer<Float>,
                beta1: Float, beta2: Float, epsilon: Float, correctedRate: Float) {
    // The vector and scalar bodies do the same operations in the same order, so a weight's
    // update does not depend on whether it falls in a whole vector or on the thread count.
    forEachVector(count: count, { i in
        let g = loadVector(gradients, i)
        let m = beta1 * loadVector(firstMoment, i) + (1 - beta1) * g
        let v = beta2 * loadVector(secondMoment, i) + (1 - beta2) * g * g
        storeVector(m, firstMoment, i)
        storeVector(v, secondMoment, i)
        storeVector(loadVector(weights, i) - correctedRate * m / (v.squareRoot() + epsilon), weights, i)
    }, remainder: { i in
        let g = gradients[i]
        firstMoment[i] = beta1 * firstMoment[i] + (1 - beta1) * g
        secondMoment[i] = beta2 * secondMoment[i] + (1 - beta2) * g * g
        weights[i] -= correctedRate * firstMoment[i] / (secondMoment[i].squareRoot() + epsilon)
    })
}

/// Adagrad (Duchi et al., 2011) with Keras defaults: `a ← a + g²`, `w ← w − lr·g/(sqrt(a) + ε)`,
/// the accumulator starting at `initialAccumulator`. State: `[a]`.
public final class Adagrad: ElementwiseOptimizer {
    public let initialAccumulator: Float
    public let epsilon: Float

    public init(learningRate: Float, initialAccumulator: Float = 0.1, epsilon: Float = 1e-7, weightDecay: Float = 0) {
        precondition(initialAccumulator >= 0, "initial accumulator must be non-negative, got \(initialAccumulator)")
        self.initialAccumulator = initialAccumulator
        self.epsilon = epsilon
        super.init(learningRate: learningRate, weightDecay: weightDecay)
    }

    override var stateInitialValues: [Float] { [initialAccumulator] }

    override func updateElements(count: Int, weights: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>,
                                 first: UnsafeMutablePointer<Float>?, second: UnsafeMutablePointer<Float>?) {
        let accumulator = first!
        let rate = learningRate
        for i in 0..<count {
            let g = gradients[i]
            accumulator[i] += g * g
            weights[i] -= rate * g / (accumulator[i].squareRoot() + epsilon)
        }
    }
}
