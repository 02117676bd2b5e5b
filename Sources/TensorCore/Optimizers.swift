/// Updates parameters from their accumulated gradients, once per training step.
public protocol Optimizer: AnyObject {
    var learningRate: Float { get set }
    /// Applies one step to every parameter in `parameters`, reading `Parameter.gradient` and
    /// writing `Parameter.value`. Gradients are left as they are.
    func update(_ parameters: [Parameter])
    /// Applies one step like `update(_:)` and leaves every gradient zero, ready for the next
    /// step's backward. The values are those of `update(_:)` followed by `zeroGradient()`.
    func updateAndZeroGradients(_ parameters: [Parameter])
}

extension Optimizer {
    public func updateAndZeroGradients(_ parameters: [Parameter]) {
        update(parameters)
        for parameter in parameters { parameter.zeroGradient() }
    }
}

/// The shared part of the dense optimizers: L2 weight decay, the step counter, and state tensors
/// keyed by parameter name, so that a checkpoint can save and restore them.
///
/// A subclass declares how many state tensors each parameter has (`stateInitialValues`) and
/// overrides `updateElements`, the update of one block of a parameter's elements; `SGD`, `Adam`
/// and `Adagrad` are each such an override. One optimizer serves one rank: it is not thread-safe.
public class ElementwiseOptimizer: Optimizer {
    public var learningRate: Float
    /// The L2 coefficient: `weightDecay · w` is added to each gradient before the update.
    public let weightDecay: Float
    /// The number of completed `update(_:)` calls. Restore it together with `state`.
    public var stepCount: Int = 0
    /// The state tensors of each parameter, keyed by `Parameter.name`, each of the parameter's
    /// shape, in the order of `stateInitialValues`. Created on a parameter's first update.
    public var state: [String: [Tensor]] = [:]
    /// The parameters whose names were last checked to be distinct, so that a step with the
    /// same list skips building a set of names.
    private var checkedParameters: [ObjectIdentifier] = []

    init(learningRate: Float, weightDecay: Float) {
        precondition(learningRate >= 0, "learning rate must be non-negative, got \(learningRate)")
        precondition(weightDecay >= 0, "weight decay must be non-negative, got \(weightDecay)")
        self.learningRate = learningRate
        self.weightDecay = weightDecay
    }

    /// The initial value of each state tensor, at most two; their count is the number of tensors.
    var stateInitialValues: [Float] { [] }

    /// Prepares the values shared by all parameters in a step; `stepCount` is already advanced.
    func beginStep() {}

    /// Updates `count` weights in place from their gradients (weight decay already added) and the
    /// state buffers, `first` and `second` for the first two entries of `stateInitialValues` and
    /// nil beyond their count. Each element's update must depend on that element alone, because
    /// a parameter arrives in blocks whose bounds vary with the thread count.
    func updateElements(count: Int, weights: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>,
                        first: UnsafeMutablePointer<Float>?, second: UnsafeMutablePointer<Float>?) {
        fatalError("\(type(of: self)) must override updateElements")
    }

    public func update(_ parameters: [Parameter]) {
        update(parameters, zeroingGradients: false)
    }

    public func updateAndZeroGradients(_ parameters: [Parameter]) {
        update(parameters, zeroingGradients: true)
    }

    private func update(_ parameters: [Parameter], zeroingGradients: Bool) {
        let identifiers = parameters.map(ObjectIdentifier.init)
        if identifiers != checkedParameters {
            precondition(Set(parameters.map(\.name)).count == parameters.count,
                         "optimizer state is keyed by parameter name, but names repeat in \(parameters.map(\.name))")
            checkedParameters = identifiers
        }
        stepCount += 1
        beginStep()
        let initialValues = stateInitialValues
        precondition(initialValues.count <= 2, "an ElementwiseOptimizer supports at most two state tensors")
        for parameter in parameters {
            update(parameter, initialValues: initialValues, zeroingGradient: zeroingGradients)
        }
    }

    /// Elements per block of the fused loop. A block's gradients, weights and two state slices
    /// (16 KiB) stay in L1 from the weight decay through the update to the zeroing.
    private static let blockElements = 1024

    private func update(_ parameter: Parameter, initialValues: [Float], zeroingGradient: Bool) {
        var slots = state.removeValue(forKey: parameter.name)
            ?? initialValues.map { Tensor(repeating: $0, shape: parameter.shape) }
        precondition(slots.count == initialValues.count && slots.allSatisfy { $0.shape == parameter.shape },
                     "optimizer state of \(parameter.name) has shapes \(slots.map(\.shape)), "
                     + "expected \(initialValues.count) of \(parameter.shape)")
        precondition(parameter.gradient.shape == parameter.shape,
                     "gradient of \(parameter.name) has shape \(parameter.gradient.shape), value \(parameter.shape)")

        // Swapping the state arrays out of their tensors, rather than copying them, keeps each
        // one uniquely referenced, so writing through its pointer does not copy it first.
        var first: [Float] = []
        var second: [Float] = []
        if slots.count > 0 { swap(&first, &slots[0].scalars) }
        if slots.count > 1 { swap(&second, &slots[1].scalars) }
        let count = parameter.value.count
        withGradientBase(of: parameter, writable: zeroingGradient) { gradients in
            parameter.value.scalars.withUnsafeMutableBufferPointer { weights in
                first.withUnsafeMutableBufferPointer { firstBuffer in
                    second.withUnsafeMutableBufferPointer { secondBuffer in
                        guard let gradients, let weights = weights.baseAddress else { return }
                        updateBlocks(count: count, weights: weights, gradients: gradients,
                                     first: slots.count > 0 ? firstBuffer.baseAddress : nil,
                                     second: slots.count > 1 ? secondBuffer.baseAddress : nil,
                                     zeroingGradients: zeroingGradient)
                    }
                }
            }
        }
        if slots.count > 0 { swap(&first, &slots[0].scalars) }
        if slots.count > 1 { swap(&second, &slots[1].scalars) }
        state[parameter.name] = slots
    }

    /// Calls `body` with the start of `parameter`'s gradient, writable only when `writable` is
    /// true: a read-only access never copies a gradient whose storage is shared.
    private func withGradientBase(of parameter: Parameter, writable: Bool,
                                  _ body: (UnsafeMutablePointer<Float>?) -> Void) {
        if writable {
            parameter.gradient.scalars.withUnsafeMutableBufferPointer { body($0.baseAddress) }
        } else {
            parameter.gradient.scalars.withUnsafeBufferPointer { body(UnsafeMutablePointer(mutating: $0.baseAddress)) }
        }
    }

    /// Runs weight decay, `updateElements` and, when `zeroingGradients` is true, the zeroing of
    /// the gradients block by block over `count` elements. `gradients` is written only then.
    private func updateBlocks(count: Int, weights: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                              first: UnsafeMutablePointer<Float>?, second: UnsafeMutablePointer<Float>?,
                              zeroingGradients: Bool) {
        let decay = weightDecay
        ComputeThreads.forEachChunk(count: count) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: decay == 0 ? 0 : Self.blockElements) { decayed in
                var start = range.lowerBound
                while start < range.upperBound {
                    let blockCount = min(Self.blockElements, range.upperBound - start)
                    var blockGradients = UnsafePointer(gradients + start)
                    if decay != 0 {
                        for i in 0..<blockCount {
                            decayed[i] = gradients[start + i] + decay * weights[start + i]
                        }
                        blockGradients = UnsafePointer(decayed.baseAddress!)
                    }
                    updateElements(count: blockCount, weights: weights + start, gradients: blockGradients,
                                   first: first.map { $0 + start }, second: second.map { $0 + start })
                    if zeroingGradients {
                        (gradients + start).update(repeating: 0, count: blockCount)
                    }
                    start += blockCount
                }
            }
        }
    }
}
