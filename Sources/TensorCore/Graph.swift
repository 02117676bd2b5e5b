/// A trainable array with its accumulated gradient.
///
/// A `Parameter` outlives the graphs of single steps: each step's graph reads `value` through
/// `Graph.parameter(_:)`, and `Graph.backward(_:)` adds into `gradient`. An optimizer reads
/// `gradient`, updates `value`, and the trainer zeroes `gradient` before the next step.
public final class Parameter {
    /// A dotted path such as `towers.0.dense1.weight`, used in logs, checksums and checkpoints.
    public let name: String
    public var value: Tensor
    /// The sum of the gradients of every use of this parameter since the last `zeroGradient()`.
    public var gradient: Tensor

    public init(name: String, value: Tensor) {
        self.name = name
        self.value = value
        self.gradient = Tensor(zeros: value.shape)
    }

    public var shape: [Int] { value.shape }

    public func zeroGradient() {
        gradient.scalars.withUnsafeMutableBufferPointer { buffer in
            buffer.update(repeating: 0)
        }
    }
}

/// A node of a `Graph`: the value an operation produced, and after `Graph.backward(_:)` the
/// gradient of the loss with respect to it.
public final class Variable {
    /// The graph that recorded this variable. Every input of an operation must share it.
    public unowned let graph: Graph
    public let value: Tensor
    /// Whether any gradient flows back through this variable (false for constants and the
    /// outputs of `stopGradient`).
    public let requiresGradient: Bool
    /// The gradient of the loss with respect to `value`; nil until backward reaches this node,
    /// and nil forever for variables that do not require a gradient. For a parameter read it
    /// holds only what ops other than `linear` added: `linear` writes its weight and bias
    /// gradients straight into `Parameter.gradient`, which is the one to read.
    public internal(set) var gradient: Tensor?

    /// Adds the output gradient into the inputs' gradients. Nil for leaves.
    let propagate: ((Tensor) -> Void)?
    /// The parameter this leaf reads, whose gradient backward accumulates into.
    let parameter: Parameter?
    /// The column ranges of the last axis whose gradient anyone reads, when that is a strict
    /// subset; nil when every column's gradient is needed. `concat` sets it when some parts need
    /// no gradient, so that `linear` can skip the product for those columns (for a gate input
    /// `[e_scene ‖ sg(E)]` that is all but 8 of 296 columns).
    var neededGradientColumns: [Range<Int>]?

    init(graph: Graph, value: Tensor, requiresGradient: Bool, parameter: Parameter?,
         propagate: ((Tensor) -> Void)?) {
        self.graph = graph
        self.value = value
        self.requiresGradient = requiresGradient
        self.parameter = parameter
        self.propagate = propagate
    }

    public var shape: [Int] { value.shape }

    /// Adds `delta` into this variable's gradient; does nothing when no gradient is required.
    func accumulate(_ delta: Tensor) {
        guard requiresGradient else { return }
        precondition(delta.shape == value.shape,
                     "gradient shape \(delta.shape) does not match value shape \(value.shape)")
        if gradient == nil {
            gradient = delta
        } else {
            gradient!.add(delta)
        }
    }

    /// Calls `body` with storage for this variable's gradient and whether `body` must add to it
    /// (true) or may overwrite it (false), so an operation can write its gradient contribution
    /// with one sgemm and no temporary. A parameter read writes straight into
    /// `Parameter.gradient`, which backward would otherwise add it to. Does nothing when no
    /// gradient is required.
    func withGradientStorage(_ body: (_ storage: UnsafeMutablePointer<Float>, _ accumulate: Bool) -> Void) {
        guard requiresGradient else { return }
        if let parameter, propagate == nil {
            precondition(parameter.gradient.shape == value.shape,
                         "gradient of \(parameter.name) has shape \(parameter.gradient.shape), value \(value.shape)")
            parameter.gradient.scalars.withUnsafeMutableBufferPointer { body($0.baseAddress!, true) }
        } else if gradient == nil {
            gradient = Tensor(shape: value.shape) { body($0.baseAddress!, false) }
        } else {
            gradient!.scalars.withUnsafeMutableBufferPointer { body($0.baseAddress!, true) }
        }
    }

    /// Adds `delta` into the columns `offset ..< offset + delta.shape.last` of the last axis of
    /// this variable's gradient, starting from zeros when there is no gradient yet. `delta` has
    /// this variable's leading axes. Used by `split`, so that each piece adds only its columns.
    func accumulateLastAxisSlice(_ delta: Tensor, offset: Int) {
        guard requiresGradient else { return }
        precondition(Array(delta.shape.dropLast()) == Array(value.shape.dropLast())
                     && offset + delta.shape.last! <= value.shape.last!,
                     "gradient slice \(delta.shape) at column \(offset) does not fit value shape \(value.shape)")
        if gradient == nil {
            gradient = Tensor(zeros: value.shape)
        }
        let width = delta.shape.last!
        let totalWidth = value.shape.last!
        let rows = width == 0 ? 0 : delta.count / width
        gradient!.scalars.withUnsafeMutableBufferPointer { destination in
            delta.scalars.withUnsafeBufferPointer { source in
                for row in 0..<rows {
                    let start = row * totalWidth + offset
                    for column in 0..<width { destination[start + column] += source[row * width + column] }
                }
            }
        }
    }
}

/// A reverse-mode autodiff tape for one forward pass.
///
/// Operations append the variables they create in execution order; `backward(_:)` visits them in
/// reverse and calls each one's hand-written derivative over whole tensors. Build a new graph for
/// every step: a graph keeps every intermediate value alive until it is released.
public final class Graph {
    private(set) var variables: [Variable] = []
    /// Whether dropout and batch norm use their training behaviour.
    public var isTraining: Bool

    public init(training: Bool = true) {
        self.isTraining = training
    }

    /// Records a value that needs no gradient, such as input features or labels.
    public func constant(_ value: Tensor) -> Variable {
        record(Variable(graph: self, value: value, requiresGradient: false, parameter: nil, propagate: nil))
    }

    /// Records a leaf whose gradient backward keeps, for inputs that are not parameters but whose
    /// gradient the caller reads, such as looked-up embedding rows `[B, F·D]`.
    public func input(_ value: Tensor) -> Variable {
        record(Variable(graph: self, value: value, requiresGradient: true, parameter: nil, propagate: nil))
    }

    /// Records a read of `parameter`; backward adds this use's gradient into `parameter.gradient`.
    public func parameter(_ parameter: Parameter) -> Variable {
        record(Variable(graph: self, value: parameter.value, requiresGradient: true,
                        parameter: parameter, propagate: nil))
    }

    /// Records the output of an operation. `propagate` receives the output's gradient and must
    /// accumulate into the inputs; it is dropped when no input requires a gradient.
    public func record(_ value: Tensor, inputs: [Variable], propagate: @escaping (Tensor) -> Void) -> Variable {
        for input in inputs {
            precondition(input.graph === self, "an operation mixes variables of two graphs")
        }
        let requires = inputs.contains { $0.requiresGradient }
        return record(Variable(graph: self, value: value, requiresGradient: requires, parameter: nil,
                               propagate: requires ? propagate : nil))
    }

    private func record(_ variable: Variable) -> Variable {
        variables.append(variable)
        return variable
    }

    /// Fills gradients from a scalar loss: every variable between the parameters and `loss` gets
    /// its gradient, and every parameter read in this graph gets the gradient of all its reads
    /// added to `Parameter.gradient`.
    public func backward(_ loss: Variable) {
        backward(loss, onParameterReady: nil)
    }

    /// Fills gradients like `backward(_:)` and calls `onParameterReady` once for every parameter
    /// read in this graph, as soon as the rest of the pass adds nothing more to its gradient.
    /// A caller can then send finished gradients while the rest of backward runs.
    ///
    /// A parameter's reads are leaves, and a leaf's gradient is complete once every variable
    /// recorded after it has been visited. Backward visits in reverse, so the parameter is final
    /// right after its earliest-recorded read is visited. It is reported then, whether or not
    /// any gradient reached it. When `loss` needs no gradient, every read parameter is reported
    /// at once, latest-recorded first. Parameters this graph never reads are not reported.
    public func backward(_ loss: Variable, onParameterReady: ((Parameter) -> Void)?) {
        precondition(loss.graph === self, "backward from a variable of another graph")
        precondition(loss.value.count == 1, "backward needs a scalar loss, got shape \(loss.shape)")
        let reportsParameter = onParameterReady == nil ? [] : earliestParameterReads()
        guard loss.requiresGradient else {
            for index in reportsParameter.indices.reversed() where reportsParameter[index] {
                onParameterReady?(variables[index].parameter!)
            }
            return
        }
        loss.accumulate(Tensor(repeating: 1, shape: loss.shape))
        for index in variables.indices.reversed() {
            let variable = variables[index]
            if let gradient = variable.gradient {
                if let propagate = variable.propagate {
                    propagate(gradient)
                } else if let parameter = variable.parameter {
                    parameter.gradient.add(gradient)
                }
            }
            if !reportsParameter.isEmpty && reportsParameter[index] {
                onParameterReady?(variable.parameter!)
            }
        }
    }

    /// Returns, for each variable, whether it is the earliest-recorded read of its parameter.
    private func earliestParameterReads() -> [Bool] {
        var seen = Set<ObjectIdentifier>()
        return variables.map { variable in
            guard let parameter = variable.parameter else { return false }
            return seen.insert(ObjectIdentifier(parameter)).inserted
        }
    }
}
