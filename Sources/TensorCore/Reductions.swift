// Sums and means over one axis or over all elements.

/// The shape of a reduction seen as `[outer, axis, inner]`: the elements before the axis, the
/// axis itself, and the elements after it.
private struct AxisSplit {
    let outer: Int
    let extent: Int
    let inner: Int
    let outputShape: [Int]

    init(shape: [Int], axis: Int, keepDimension: Bool) {
        let resolved = normalizedAxis(axis, rank: shape.count)
        outer = shape[..<resolved].reduce(1, *)
        extent = shape[resolved]
        inner = shape[(resolved + 1)...].reduce(1, *)
        var output = shape
        if keepDimension {
            output[resolved] = 1
        } else {
            output.remove(at: resolved)
        }
        // A tensor has rank 1 or more, so reducing the only axis leaves shape [1].
        outputShape = output.isEmpty ? [1] : output
    }
}

/// Returns `a` summed and multiplied by `factor` along one axis.
private func reduceAxis(_ a: Variable, axis: Int, keepDimension: Bool, factor: Float) -> Variable {
    let split = AxisSplit(shape: a.shape, axis: axis, keepDimension: keepDimension)
    let (outer, extent, inner) = (split.outer, split.extent, split.inner)

    var value = Tensor(zeros: split.outputShape)
    value.scalars.withUnsafeMutableBufferPointer { output in
        a.value.scalars.withUnsafeBufferPointer { input in
            for o in 0..<outer {
                for e in 0..<extent {
                    let source = (o * extent + e) * inner
                    for i in 0..<inner { output[o * inner + i] += input[source + i] }
                }
            }
            if factor != 1 {
                for i in 0..<output.count { output[i] *= factor }
            }
        }
    }
    return a.graph.record(value, inputs: [a]) { gradient in
        let da = gradient.scalars.withUnsafeBufferPointer { dy in
            Tensor(shape: a.shape) { dx in
                for o in 0..<outer {
                    for e in 0..<extent {
                        let destination = (o * extent + e) * inner
                        for i in 0..<inner { dx[destination + i] = dy[o * inner + i] * factor }
                    }
                }
            }
        }
        a.accumulate(da)
    }
}

/// Returns the sum along `axis` (negative counts from the end). The axis is removed, or kept with
/// extent 1 when `keepDimension` is true; reducing a rank-1 tensor gives shape `[1]`.
public func sum(_ a: Variable, axis: Int, keepDimension: Bool = false) -> Variable {
    reduceAxis(a, axis: axis, keepDimension: keepDimension, factor: 1)
}

/// Returns the mean along `axis`, with the output shape of `sum(_:axis:keepDimension:)`.
public func mean(_ a: Variable, axis: Int, keepDimension: Bool = false) -> Variable {
    let extent = a.shape[normalizedAxis(axis, rank: a.value.rank)]
    precondition(extent > 0, "mean along an empty axis \(axis) of shape \(a.shape)")
    return reduceAxis(a, axis: axis, keepDimension: keepDimension, factor: 1 / Float(extent))
}

/// Returns the sum of all elements, with shape `[1]`. The total is accumulated in Double.
public func sum(_ a: Variable) -> Variable {
    reduceAll(a, factor: 1)
}

/// Returns the mean of all elements, with shape `[1]`.
public func mean(_ a: Variable) -> Variable {
    precondition(a.value.count > 0, "mean of an empty tensor of shape \(a.shape)")
    return reduceAll(a, factor: 1 / Double(a.value.count))
}

private func reduceAll(_ a: Variable, factor: Double) -> Variable {
    var total: Double = 0
    for element in a.value.scalars { total += Double(element) }
    let value = Tensor(shape: [1], scalars: [Float(total * factor)])
    return a.graph.record(value, inputs: [a]) { gradient in
        a.accumulate(Tensor(repeating: gradient.scalars[0] * Float(factor), shape: a.shape))
    }
}
