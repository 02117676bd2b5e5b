// Operations that move elements without arithmetic: concatenation and splitting on the last
// axis, reshaping, row gathers, and cutting the gradient path.

/// Returns the parts joined along the last axis. Every part must have the same leading axes:
/// `[B, N₁]`, `[B, N₂]`, ... give `[B, N₁ + N₂ + ...]`, and rank 3 works the same way.
public func concat(_ parts: [Variable]) -> Variable {
    precondition(!parts.isEmpty, "concat needs at least one part")
    let leading = Array(parts[0].shape.dropLast())
    for part in parts {
        precondition(Array(part.shape.dropLast()) == leading,
                     "concat parts must share the leading axes \(leading), got shape \(part.shape)")
    }
    let widths = parts.map { $0.shape.last! }
    let totalWidth = widths.reduce(0, +)
    let rows = leading.reduce(1, *)

    var value = Tensor(zeros: leading + [totalWidth])
    value.scalars.withUnsafeMutableBufferPointer { output in
        var offset = 0
        for (part, width) in zip(parts, widths) {
            part.value.scalars.withUnsafeBufferPointer { input in
                for row in 0..<rows {
                    let source = row * width
                    let destination = row * totalWidth + offset
                    for column in 0..<width { output[destination + column] = input[source + column] }
                }
            }
            offset += width
        }
    }
    let result = parts[0].graph.record(value, inputs: parts) { gradient in
        var offset = 0
        for (part, width) in zip(parts, widths) {
            if part.requiresGradient {
                part.accumulate(sliceLastAxis(gradient, offset: offset, width: width))
            }
            offset += width
        }
    }
    if result.requiresGradient && parts.contains(where: { !$0.requiresGradient }) {
        var ranges: [Range<Int>] = []
        var offset = 0
        for (part, width) in zip(parts, widths) {
            if part.requiresGradient {
                if let last = ranges.last, last.upperBound == offset {
                    ranges[ranges.count - 1] = last.lowerBound ..< offset + width
                } else {
                    ranges.append(offset ..< offset + width)
                }
            }
            offset += width
        }
        result.neededGradientColumns = ranges
    }
    return result
}

/// Returns the columns `offset ..< offset + width` of the last axis of `tensor`.
func sliceLastAxis(_ tensor: Tensor, offset: Int, width: Int) -> Tensor {
    let totalWidth = tensor.shape.last!
    let rows = totalWidth == 0 ? 0 : tensor.count / totalWidth
    return tensor.scalars.withUnsafeBufferPointer { input in
        Tensor(shape: tensor.shape.dropLast() + [width]) { output in
            for row in 0..<rows {
                let source = row * totalWidth + offset
                let destination = row * width
                for column in 0..<width { output[destination + column] = input[source + column] }
            }
        }
    }
}

/// Returns consecutive pieces of the last axis with the given widths, which must add up to the
/// width of `a`: `[B, N]` with sizes `[N₁, N₂]` gives `[B, N₁]` and `[B, N₂]`.
public func split(_ a: Variable, sizes: [Int]) -> [Variable] {
    let totalWidth = a.shape.last!
    precondition(sizes.allSatisfy { $0 >= 0 } && sizes.reduce(0, +) == totalWidth,
                 "split sizes \(sizes) must be non-negative and add up to the last axis of \(a.shape)")
    var parts: [Variable] = []
    var offset = 0
    for width in sizes {
        let start = offset
        let value = sliceLastAxis(a.value, offset: start, width: width)
        parts.append(a.graph.record(value, inputs: [a]) { gradient in
            a.accumulateLastAxisSlice(gradient, offset: start)
        })
        offset += width
    }
    return parts
}

/// Returns the columns `columns` of the last axis of `a`; backward adds into those columns only.
/// Cheaper than `split` when only a few of many pieces are read.
public func slice(_ a: Variable, columns: Range<Int>) -> Variable {
    precondition(columns.lowerBound >= 0 && columns.upperBound <= a.shape.last!,
                 "columns \(columns) out of range for shape \(a.shape)")
    let value = sliceLastAxis(a.value, offset: columns.lowerBound, width: columns.count)
    return a.graph.record(value, inputs: [a]) { gradient in
        a.accumulateLastAxisSlice(gradient, offset: columns.lowerBound)
    }
}

/// Returns the same elements under another shape with the same element count.
public func reshape(_ a: Variable, _ shape: [Int]) -> Variable {
    precondition(shape.reduce(1, *) == a.value.count,
                 "cannot reshape \(a.shape) (\(a.value.count) elements) to \(shape)")
    let originalShape = a.shape
    return a.graph.record(a.value.reshaped(shape), inputs: [a]) { gradient in
        a.accumulate(gradient.reshaped(originalShape))
    }
}

/// Returns a variable with the value of `a` through which no gradient flows.
public func stopGradient(_ a: Variable) -> Variable {
    a.graph.constant(a.value)
}

/// Returns the rows `table[indices[i]]`: `table` is `[R, D]`, the result `[n, D]` for
/// `n = indices.count`. Backward adds each output row's gradient into its table row, so a row
/// gathered twice receives the sum of both gradients.
///
/// NOTE: backward builds a dense `[R, D]` gradient. That suits small tables; large embedding
/// tables should take the looked-up rows as `Graph.input` and apply a `SparseRowOptimizer`.
public func gatherRows(_ table: Variable, indices: [Int32]) -> Variable {
    precondition(table.value.rank == 2, "gatherRows needs a table [R, D], got shape \(table.shape)")
    let rowCount = table.shape[0]
    let width = table.shape[1]
    for index in indices {
        precondition(index >= 0 && Int(index) < rowCount,
                     "gatherRows index \(index) is out of range for a table of \(rowCount) rows")
    }

    let value = table.value.scalars.withUnsafeBufferPointer { rows in
        Tensor(shape: [indices.count, width]) { output in
            for (position, index) in indices.enumerated() {
                let source = Int(index) * width
                let destination = position * width
                for column in 0..<width { output[destination + column] = rows[source + column] }
            }
        }
    }
    return table.graph.record(value, inputs: [table]) { gradient in
        var tableGradient = Tensor(zeros: table.shape)
        tableGradient.scalars.withUnsafeMutableBufferPointer { destinationRows in
            gradient.scalars.withUnsafeBufferPointer { source in
                for (position, index) in indices.enumerated() {
                    let destination = Int(index) * width
                    let start = position * width
                    for column in 0..<width { destinationRows[destination + column] += source[start + column] }
                }
            }
        }
        table.accumulate(tableGradient)
    }
}
