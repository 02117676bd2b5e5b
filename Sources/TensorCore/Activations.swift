#if canImport(Glibc)
import Glibc
#endif

// Element-wise activations, and softmax over the last axis. Every function keeps the input's
// shape. Backward uses the saved output where the derivative is a function of it.

/// Returns `max(x, 0)`. The derivative at 0 is taken as 0.
public func relu(_ x: Variable) -> Variable {
    var value = x.value
    value.scalars.withUnsafeMutableBufferPointer { applyRelu($0) }
    return x.graph.record(value, inputs: [x]) { gradient in
        x.accumulate(reluGradient(gradient, output: value))
    }
}

/// Returns `x` where `x > 0` and `slope · x` elsewhere.
public func leakyRelu(_ x: Variable, slope: Float = 0.01) -> Variable {
    let value = x.value.mapScalars { $0 > 0 ? $0 : slope * $0 }
    return x.graph.record(value, inputs: [x]) { gradient in
        x.accumulate(gradient.zipScalars(x.value) { $1 > 0 ? $0 : slope * $0 })
    }
}

/// Returns the logistic function `1 / (1 + exp(-x))`, computed without overflow for any `x`.
@inline(__always)
func logistic(_ x: Float) -> Float {
    if x >= 0 {
        return 1 / (1 + exp(-x))
    }
    let e = exp(x)
    return e / (1 + e)
}

/// Returns `1 / (1 + exp(-x))`; its derivative is `y · (1 - y)`.
public func sigmoid(_ x: Variable) -> Variable {
    var value = x.value
    value.scalars.withUnsafeMutableBufferPointer { applyScaledLogistic($0, scale: 1) }
    return x.graph.record(value, inputs: [x]) { gradient in
        x.accumulate(scaledLogisticGradient(gradient, output: value, scale: 1))
    }
}

/// Returns the hyperbolic tangent; its derivative is `1 - y²`.
public func tanh(_ x: Variable) -> Variable {
    let value = x.value.mapScalars { Glibc.tanh($0) }
    return x.graph.record(value, inputs: [x]) { gradient in
        x.accumulate(gradient.zipScalars(value) { $0 * (1 - $1 * $1) })
    }
}

/// Calls `body` with the start offset and width of each row along the last axis of `shape`.
@inline(__always)
func forEachLastAxisRow(_ shape: [Int], _ body: (_ start: Int, _ width: Int) -> Void) {
    let width = shape.last!
    let rows = width == 0 ? 0 : shape.reduce(1, *) / width
    for row in 0..<rows { body(row * width, width) }
}

/// Returns `exp(x) / Σ exp(x)` over the last axis. The row maximum is subtracted before `exp`,
/// so large logits do not overflow. Backward: `dx = y ⊙ (dy − Σ dy ⊙ y)` per row.
public func softmax(_ x: Variable) -> Variable {
    let value = x.value.scalars.withUnsafeBufferPointer { input in
        Tensor(shape: x.shape) { output in
            forEachLastAxisRow(x.shape) { start, width in
                var maximum = -Float.infinity
                for i in start..<start + width { maximum = max(maximum, input[i]) }
                var total: Float = 0
                for i in start..<start + width {
                    output[i] = exp(input[i] - maximum)
                    total += output[i]
                }
                let inverse = 1 / total
                for i in start..<start + width { output[i] *= inverse }
            }
        }
    }
    return x.graph.record(value, inputs: [x]) { gradient in
        let dx = gradient.scalars.withUnsafeBufferPointer { dy in
            value.scalars.withUnsafeBufferPointer { y in
                Tensor(shape: x.shape) { dx in
                    forEachLastAxisRow(x.shape) { start, width in
                        var dot: Float = 0
                        for i in start..<start + width { dot += dy[i] * y[i] }
                        for i in start..<start + width { dx[i] = y[i] * (dy[i] - dot) }
                    }
                }
            }
        }
        x.accumulate(dx)
    }
}

/// Returns `x − log Σ exp(x)` over the last axis, computed with the row maximum subtracted.
/// Backward: `dx = dy − softmax(x) · Σ dy` per row.
public func logSoftmax(_ x: Variable) -> Variable {
    let value = x.value.scalars.withUnsafeBufferPointer { input in
        Tensor(shape: x.shape) { output in
            forEachLastAxisRow(x.shape) { start, width in
                var maximum = -Float.infinity
                for i in start..<start + width { maximum = max(maximum, input[i]) }
                var total: Float = 0
                for i in start..<start + width { total += exp(input[i] - maximum) }
                // Subtracting the maximum first keeps the result exact to Float precision near 0
                // even when the logits themselves are large.
                let logTotal = log(total)
                for i in start..<start + width { output[i] = (input[i] - maximum) - logTotal }
            }
        }
    }
    return x.graph.record(value, inputs: [x]) { gradient in
        let dx = gradient.scalars.withUnsafeBufferPointer { dy in
            value.scalars.withUnsafeBufferPointer { y in
                Tensor(shape: x.shape) { dx in
                    forEachLastAxisRow(x.shape) { start, width in
                        var total: Float = 0
                        for i in start..<start + width { total += dy[i] }
                        for i in start..<start + width { dx[i] = dy[i] - exp(y[i]) * total }
                    }
                }
            }
        }
        x.accumulate(dx)
    }
}
