// In-place activation kernels and their gradients for the fused activations of `linear` and
// `groupedLinear`, written over SIMD vectors: the compiler does not vectorize a per-element
// loop with a comparison or a call to libm's `expf`.

/// Returns `e^x` lane by lane for `x` in `[-87, 0]` to about 2 ulp, without a library call.
///
/// `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`; `e^r` is a degree-6 polynomial (the Cephes `expf`
/// coefficients) and `2^n` is built from exponent bits. Adding 1.5·2²³ rounds `x·log₂e` to the
/// integer n and leaves n in the low bits of the sum, so no float-to-int conversion is needed.
/// ln 2 is split in two parts so that `n·ln2High` is exact.
/// Outside that range the exponent bits wrap, so it is private to the logistic below.
@inline(__always)
private func vectorExp(_ x: FloatVector) -> FloatVector {
    let shifted = x * 1.442_695_04 + 12_582_912
    let n = shifted - 12_582_912
    let r = (x - n * 0.693_359_375) - n * -2.121_944_4e-4
    var p = FloatVector(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 1.666_666_55e-1
    p = p * r + 5.000_000_1e-1
    let expR = p * r * r + r + 1
    let bits = unsafeBitCast(shifted, to: SIMD8<UInt32>.self)
    let twoToN = unsafeBitCast((bits &- 0x4B40_0000 &+ 127) &<< 23, to: FloatVector.self)
    return expR * twoToN
}

/// Returns `1 / (1 + e^-x)` lane by lane for any `x`, to a few ulp.
///
/// `e^-|x|` for `|x|` beyond `vectorExp`'s range is `e^-(|x|-40) · e^-40`, which rounds into the
/// subnormal range as libm does; from |x| = 104 on it is 0.
@inline(__always)
func vectorLogistic(_ x: FloatVector) -> FloatVector {
    // The stdlib's generic pointwiseMin/Max are not specialized here and cost a call per vector.
    let absolute = x.replacing(with: -x, where: x .< 0)
    let magnitude = absolute.replacing(with: 104, where: absolute .> 104)
    let large = magnitude .> 80
    let reduced = magnitude.replacing(with: magnitude - 40, where: large)
    let e = vectorExp(-reduced) * FloatVector(repeating: 1).replacing(with: 4.248_354_3e-18, where: large)
    let positive = 1 / (1 + e)
    return positive.replacing(with: e * positive, where: x .< 0)
}

/// Returns `vectorLogistic` of one element, for the elements after the last whole vector.
@inline(__always)
func scalarLogistic(_ x: Float) -> Float {
    vectorLogistic(FloatVector(repeating: x))[0]
}

/// Applies `max(x, 0)` in place.
func applyRelu(_ values: UnsafeMutableBufferPointer<Float>) {
    guard let start = values.baseAddress else { return }
    ComputeThreads.forEachChunk(count: values.count) { range in
        rectify(start + range.lowerBound, into: start + range.lowerBound, count: range.count)
    }
}

/// Applies `scale · sigmoid(x)` in place.
func applyScaledLogistic(_ values: UnsafeMutableBufferPointer<Float>, scale: Float) {
    guard let start = values.baseAddress else { return }
    ComputeThreads.forEachChunk(count: values.count, minimumChunk: 4096) { range in
        let base = start + range.lowerBound
        let count = range.count
        let vectorEnd = count - count % FloatVector.scalarCount
        var i = 0
        while i < vectorEnd {
            storeVector(scale * vectorLogistic(loadVector(base, i)), base, i)
            i += FloatVector.scalarCount
        }
        while i < count {
            base[i] = scale * scalarLogistic(base[i])
            i += 1
        }
    }
}

/// Applies a fused activation in place.
func applyActivation(_ activation: FusedActivation, to values: UnsafeMutableBufferPointer<Float>) {
    switch activation {
    case .identity: break
    case .relu: applyRelu(values)
    case .scaledSigmoid(let scale): applyScaledLogistic(values, scale: scale)
    }
}

/// Returns `dy` where the ReLU output `y` is positive and 0 elsewhere (also where `y` is NaN).
func reluGradient(_ dy: Tensor, output y: Tensor) -> Tensor {
    activationGradient(dy, output: y) { g, o, d, count in reluGradient(g, output: o, into: d, count: count) }
}

/// Returns `dy · y · (1 − y / scale)`, the gradient through `y = scale · sigmoid(z)`.
func scaledLogisticGradient(_ dy: Tensor, output y: Tensor, scale: Float) -> Tensor {
    precondition(scale > 0, "a scaled sigmoid needs a positive scale, got \(scale)")
    let inverseScale = 1 / scale
    return activationGradient(dy, output: y) { g, o, d, count in
        forEachVector(count: count, { i in
            let output = loadVector(o, i)
            storeVector(loadVector(g, i) * output * (1 - output * inverseScale), d, i)
        }, remainder: { i in d[i] = g[i] * o[i] * (1 - o[i] * inverseScale) })
    }
}

/// Returns a new tensor from `kernel(dy, y, result, count)` run on chunks of the elements, one
/// chunk per thread of `ComputeThreads`.
private func activationGradient(
    _ dy: Tensor, output y: Tensor,
    _ kernel: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
) -> Tensor {
    precondition(dy.shape == y.shape, "activation gradient shape \(dy.shape) does not match output \(y.shape)")
    return dy.scalars.withUnsafeBufferPointer { gradient in
        y.scalars.withUnsafeBufferPointer { output in
            Tensor(shape: y.shape) { dz in
                guard let g = gradient.baseAddress, let o = output.baseAddress, let d = dz.baseAddress else { return }
                ComputeThreads.forEachChunk(count: dz.count) { range in
                    let offset = range.lowerBound
                    kernel(g + offset, o + offset, d + offset, range.count)
                }
            }
        }
    }
}

/// Returns the gradient before a fused activation from the gradient after it and its output.
func activationGradient(_ activation: FusedActivation, _ dy: Tensor, output y: Tensor) -> Tensor {
    switch activation {
    case .identity: return dy
    case .relu: return reluGradient(dy, output: y)
    case .scaledSigmoid(let scale): return scaledLogisticGradient(dy, output: y, scale: scale)
    }
}
