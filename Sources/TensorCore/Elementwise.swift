// Element-wise arithmetic on variables, with numpy broadcasting for rank 1 to 3.
//
// The output has the broadcast shape of the two operands (see `BroadcastLayout`). Backward sums
// each operand's gradient over the axes along which it was repeated, so `[B, N] + [N]` gives the
// bias a gradient of shape `[N]`.

/// Returns `a + b` with broadcasting.
public func + (a: Variable, b: Variable) -> Variable {
    let value = broadcastCombine(a.value, b.value, +)
    return a.graph.record(value, inputs: [a, b]) { gradient in
        if a.requiresGradient { a.accumulate(reduceBroadcast(gradient, to: a.shape)) }
        if b.requiresGradient { b.accumulate(reduceBroadcast(gradient, to: b.shape)) }
    }
}

/// Returns `a - b` with broadcasting.
public func - (a: Variable, b: Variable) -> Variable {
    let value = broadcastCombine(a.value, b.value, -)
    return a.graph.record(value, inputs: [a, b]) { gradient in
        if a.requiresGradient { a.accumulate(reduceBroadcast(gradient, to: a.shape)) }
        if b.requiresGradient { b.accumulate(reduceBroadcast(gradient.mapScalars { -$0 }, to: b.shape)) }
    }
}

/// Returns `a · b` element-wise with broadcasting.
public func * (a: Variable, b: Variable) -> Variable {
    if a.shape == b.shape {
        // The common case of gates and masks, on vectors rather than through a closure call.
        let value = multiplied(a.value, b.value)
        return a.graph.record(value, inputs: [a, b]) { gradient in
            if a.requiresGradient { a.accumulate(multiplied(gradient, b.value)) }
            if b.requiresGradient { b.accumulate(multiplied(gradient, a.value)) }
        }
    }
    let value = broadcastCombine(a.value, b.value, *)
    return a.graph.record(value, inputs: [a, b]) { gradient in
        // d(a·b)/da = b and d(a·b)/db = a, each broadcast to the output shape before reducing.
        if a.requiresGradient { a.accumulate(reduceBroadcast(broadcastCombine(gradient, b.value, *), to: a.shape)) }
        if b.requiresGradient { b.accumulate(reduceBroadcast(broadcastCombine(gradient, a.value, *), to: b.shape)) }
    }
}

/// Returns `a / b` element-wise with broadcasting.
public func / (a: Variable, b: Variable) -> Variable {
    let value = broadcastCombine(a.value, b.value, /)
    return a.graph.record(value, inputs: [a, b]) { gradient in
        if a.requiresGradient { a.accumulate(reduceBroadcast(broadcastCombine(gradient, b.value, /), to: a.shape)) }
        if b.requiresGradient {
            // d(a/b)/db = -a/b² = -y/b, where y = a/b is the output.
            let gradientTimesOutput = gradient.zipScalars(value, *)
            b.accumulate(reduceBroadcast(broadcastCombine(gradientTimesOutput, b.value) { -$0 / $1 }, to: b.shape))
        }
    }
}

/// Returns `a · factor` element-wise.
public func scale(_ a: Variable, by factor: Float) -> Variable {
    a.graph.record(a.value.mapScalars { $0 * factor }, inputs: [a]) { gradient in
        a.accumulate(gradient.mapScalars { $0 * factor })
    }
}

/// Returns `-a`.
public func negate(_ a: Variable) -> Variable {
    scale(a, by: -1)
}

public prefix func - (a: Variable) -> Variable {
    negate(a)
}

public func * (a: Variable, factor: Float) -> Variable {
    scale(a, by: factor)
}

public func * (factor: Float, a: Variable) -> Variable {
    scale(a, by: factor)
}

/// Returns `a + offset` element-wise.
public func + (a: Variable, offset: Float) -> Variable {
    a.graph.record(a.value.mapScalars { $0 + offset }, inputs: [a]) { gradient in
        a.accumulate(gradient)
    }
}

public func + (offset: Float, a: Variable) -> Variable {
    a + offset
}

/// Returns `a - offset` element-wise.
public func - (a: Variable, offset: Float) -> Variable {
    a + (-offset)
}

/// Returns `offset - a` element-wise.
public func - (offset: Float, a: Variable) -> Variable {
    a.graph.record(a.value.mapScalars { offset - $0 }, inputs: [a]) { gradient in
        a.accumulate(gradient.mapScalars { -$0 })
    }
}
