/// Updates parameters from their accumulated gradients, once per training step.
public protocol Optimizer: AnyObject {
    var learningRate: Float { get set }
    /// Applies one step to every parameter in `parameters`, reading `Parameter.gradient` and
    /// writing `Parameter.value`. Gradients are left as they are; the trainer zeroes them.
    func update(_ parameters: [Parameter])
}

/// The shared part of the dense optimizers: L2 weight decay, the step counter, and state tensors
/// keyed by parameter name, so that a checkpoint can save and restore them.
///
/// A subclass declares how many state tensors each parameter has (`stateInitialValues`) and
/// overrides `updateElements`, the update of one parameter's elements; `SGD`, `Adam` and
/// `Adagrad` are each such an override. One optimizer serves one rank: it is not thread-safe.
public class ElementwiseOptimizer: Optimizer {
    public var learningRate: Float
    /// The L2 coefficient: `weightDecay · w` is added to each gradient before the update.
    public let weightDecay: Float
    /// The number of completed `update(_:)` calls. Restore it together with `state`.
    public var stepCount: Int = 0
    /// The state tensors of each parameter, keyed by `Parameter.name`, each of the parameter's
    /// shape, in the order of `stateInitialValues`. Created on a parameter's first update.
    public var state: [String: [Tensor]] = [:]

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
    /// state buffers, one per entry of `stateInitialValues`.
    func updateElements(count: Int, weights: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>,
                        state: [UnsafeMutablePointer<Float>]) {
        fatalError("\(type(of: self)) must override updateElements")
    }

    public func update(_ parameters: [Parameter]) {
        precondition(Set(parameters.map(\.name)).count == parameters.count,
                     "optimizer state is keyed by parameter name, but names repeat in \(parameters.map(\.name))")
        stepCount += 1
        beginStep()
        for parameter in parameters {
            update(parameter)
        }
    }

    private func update(_ parameter: Parameter) {
        let initialValues = stateInitialValues
        var slots = state.removeValue(forKey: parameter.name)
            ?? initialValues.map { Tensor(repeating: $0, shape: parameter.shape) }
        precondition(slots.count == initialValues.count && slots.allSatisfy { $0.shape == parameter.shape },
                     "optimizer state of \(parameter.name) has shapes \(slots.map(\.shape)), "
                     + "expected \(initialValues.count) of \(parameter.shape)")
        precondition(parameter.gradient.shape == parameter.shape,
                     "gradient of \(parameter.name) has shape \(parameter.gradient.shape), value \(parameter.shape)")

        var gradient = parameter.gradient
        if weightDecay != 0 {
            gradient = gradient.zipScalars(parameter.value) { $0 + weightDecay * $1 }
        }
        let count = parameter.value.count
        gradient.scalars.withUnsafeBufferPointer { gradients in
            parameter.value.scalars.withUnsafeMutableBufferPointer { weights in
                // Each state buffer is pinned in its own local, because two elements of one array
                // cannot be accessed mutably at the same time.
                switch slots.count {
                case 0:
                    updateElements(count: count, weights: weights.baseAddress!, gradients: gradients.baseAddress!,
                                   state: [])
                case 1:
                    slots[0].scalars.withUnsafeMutableBufferPointer { first in
                        updateElements(count: count, weights: weights.baseAddress!,
                                       gradients: gradients.baseAddress!, state: [first.baseAddress!])
                    }
                case 2:
                    var second = slots.removeLast()
                    slots[0].scalars.withUnsafeMutableBufferPointer { first in
                        second.scalars.withUnsafeMutableBufferPointer { secondBuffer in
                            updateElements(count: count, weights: weights.baseAddress!,
                                           gradients: gradients.baseAddress!,
                                           state: [first.baseAddress!, secondBuffer.baseAddress!])
                        }
                    }
                    slots.append(second)
                default:
                    preconditionFailure("an ElementwiseOptimizer supports at most two state tensors")
                }
            }
        }
        state[parameter.name] = slots
    }
}
