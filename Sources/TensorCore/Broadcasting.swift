/// Numpy broadcasting for shapes of rank 1 to 3.
///
/// Both shapes are aligned at their last axis and padded with leading 1s to rank 3. On each axis
/// the extents must be equal, or one of them 1, which repeats that operand along the axis. The
/// output has the larger rank of the two.
struct BroadcastLayout {
    /// The broadcast output shape, of rank `max(a.rank, b.rank)`.
    let shape: [Int]
    /// The output extents padded to rank 3.
    let extents: (Int, Int, Int)
    /// Element strides of each operand over the padded output axes, 0 on a repeated axis.
    let stridesA: (Int, Int, Int)
    let stridesB: (Int, Int, Int)

    init(_ a: [Int], _ b: [Int]) {
        let paddedA = BroadcastLayout.padded(a)
        let paddedB = BroadcastLayout.padded(b)
        var output = [1, 1, 1]
        for axis in 0..<3 {
            let (left, right) = (paddedA[axis], paddedB[axis])
            precondition(left == right || left == 1 || right == 1,
                         "shapes \(a) and \(b) do not broadcast: axis \(axis - 3) has \(left) and \(right)")
            output[axis] = left == 1 ? right : left
        }
        shape = Array(output.suffix(max(a.count, b.count)))
        extents = (output[0], output[1], output[2])
        stridesA = BroadcastLayout.strides(paddedA)
        stridesB = BroadcastLayout.strides(paddedB)
    }

    static func padded(_ shape: [Int]) -> [Int] {
        precondition(shape.count >= 1 && shape.count <= 3, "broadcasting supports rank 1 to 3, got shape \(shape)")
        return [Int](repeating: 1, count: 3 - shape.count) + shape
    }

    /// Row-major strides of a padded shape, with 0 on axes of extent 1 so that they repeat.
    static func strides(_ padded: [Int]) -> (Int, Int, Int) {
        let inner = padded[2] == 1 ? 0 : 1
        let middle = padded[1] == 1 ? 0 : padded[2]
        let outer = padded[0] == 1 ? 0 : padded[1] * padded[2]
        return (outer, middle, inner)
    }
}

/// Returns `combine(a, b)` element-wise under broadcasting; the result has the broadcast shape.
@inline(__always)
func broadcastCombine(_ a: Tensor, _ b: Tensor, _ combine: (Float, Float) -> Float) -> Tensor {
    if a.shape == b.shape {
        return a.zipScalars(b, combine)
    }
    let layout = BroadcastLayout(a.shape, b.shape)
    return a.scalars.withUnsafeBufferPointer { left in
        b.scalars.withUnsafeBufferPointer { right in
            Tensor(shape: layout.shape) { destination in
                // A scalar operand and the bias shapes ([B, N] with [N]) take the plain loops below.
                if right.count == 1 && left.count == destination.count {
                    let scalar = right[0]
                    for i in 0..<destination.count { destination[i] = combine(left[i], scalar) }
                    return
                }
                if left.count == 1 && right.count == destination.count {
                    let scalar = left[0]
                    for i in 0..<destination.count { destination[i] = combine(scalar, right[i]) }
                    return
                }
                let (e0, e1, e2) = layout.extents
                let (a0, a1, a2) = layout.stridesA
                let (b0, b1, b2) = layout.stridesB
                var index = 0
                for i0 in 0..<e0 {
                    for i1 in 0..<e1 {
                        let baseA = i0 * a0 + i1 * a1
                        let baseB = i0 * b0 + i1 * b1
                        if a2 == 1 && b2 == 1 {
                            for i2 in 0..<e2 { destination[index + i2] = combine(left[baseA + i2], right[baseB + i2]) }
                        } else if a2 == 1 {
                            let scalar = right[baseB]
                            for i2 in 0..<e2 { destination[index + i2] = combine(left[baseA + i2], scalar) }
                        } else if b2 == 1 {
                            let scalar = left[baseA]
                            for i2 in 0..<e2 { destination[index + i2] = combine(scalar, right[baseB + i2]) }
                        } else {
                            let value = combine(left[baseA], right[baseB])
                            for i2 in 0..<e2 { destination[index + i2] = value }
                        }
                        index += e2
                    }
                }
            }
        }
    }
}

/// Sums `gradient`, which has a broadcast output shape, over the axes along which an operand of
/// `shape` was repeated, so that the result has `shape`. This is the backward of broadcasting.
func reduceBroadcast(_ gradient: Tensor, to shape: [Int]) -> Tensor {
    if gradient.shape == shape {
        return gradient
    }
    let layout = BroadcastLayout(gradient.shape, shape)
    precondition(layout.shape == gradient.shape,
                 "shape \(shape) does not broadcast to the gradient shape \(gradient.shape)")
    var reduced = Tensor(zeros: shape)
    let (e0, e1, e2) = layout.extents
    let (s0, s1, s2) = layout.stridesB
    gradient.scalars.withUnsafeBufferPointer { source in
        reduced.scalars.withUnsafeMutableBufferPointer { destination in
            var index = 0
            for i0 in 0..<e0 {
                for i1 in 0..<e1 {
                    let base = i0 * s0 + i1 * s1
                    if s2 == 1 {
                        for i2 in 0..<e2 { destination[base + i2] += source[index + i2] }
                    } else {
                        var total: Float = 0
                        for i2 in 0..<e2 { total += source[index + i2] }
                        destination[base] += total
                    }
                    index += e2
                }
            }
        }
    }
    return reduced
}
