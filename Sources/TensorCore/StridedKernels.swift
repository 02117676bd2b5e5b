// Raw-buffer helpers for operations that read and write column blocks of row-major matrices in
// place: a GEMM with explicit leading dimensions, column sums, and a gradient buffer that
// several column blocks add into.

/// Computes `c = op(a) · op(b)` (or adds it into `c` with `accumulate`) for row-major matrices
/// stored with leading dimensions `lda`, `ldb`, `ldc`, so that `a`, `b` and `c` may be column
/// blocks of wider matrices. `op(a)` is `[m, k]`, `op(b)` `[k, n]`, `c` `[m, n]`.
@inline(__always)
func stridedGemm(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
                 a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                 c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        // An empty inner product is zero, and sgemm is not relied on to scale c by beta here.
        if !accumulate {
            for row in 0..<m { (c + row * ldc).update(repeating: 0, count: n) }
        }
        return
    }
    BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1,
               a: a, lda: lda, b: b, ldb: ldb, beta: accumulate ? 1 : 0, c: c, ldc: ldc)
}

/// Adds the column sums of the `[rows, width]` block at `source` (row stride `stride`) into
/// `sums` `[width]`.
@inline(__always)
func addColumnSums(_ source: UnsafePointer<Float>, rows: Int, width: Int, stride: Int,
                   into sums: UnsafeMutablePointer<Float>) {
    for row in 0..<rows {
        addElements(source + row * stride, into: sums, count: width)
    }
}

/// Adds `count` elements of `source` into `destination`, eight lanes at a time. The buffers must
/// not overlap (the explicit lanes stand in for the vectorization that possible aliasing blocks).
@inlinable @inline(__always)
public func addElements(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, count: Int) {
    var index = 0
    while index + 8 <= count {
        let sum = UnsafeRawPointer(destination + index).loadUnaligned(as: SIMD8<Float>.self)
            + UnsafeRawPointer(source + index).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(destination + index).storeBytes(of: sum, as: SIMD8<Float>.self)
        index += 8
    }
    while index < count {
        destination[index] += source[index]
        index += 1
    }
}

/// Adds `scale · source` into `destination` for `count` elements (an axpy), eight lanes at a
/// time. The buffers must not overlap.
@inline(__always)
func addScaled(_ source: UnsafePointer<Float>, scale: Float, into destination: UnsafeMutablePointer<Float>,
               count: Int) {
    let factor = SIMD8<Float>(repeating: scale)
    var index = 0
    while index + 8 <= count {
        let sum = UnsafeRawPointer(destination + index).loadUnaligned(as: SIMD8<Float>.self)
            + factor * UnsafeRawPointer(source + index).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(destination + index).storeBytes(of: sum, as: SIMD8<Float>.self)
        index += 8
    }
    while index < count {
        destination[index] += scale * source[index]
        index += 1
    }
}

/// Writes `scale · source` into `destination` for `count` elements, eight lanes at a time.
@inline(__always)
func writeScaled(_ source: UnsafePointer<Float>, scale: Float, into destination: UnsafeMutablePointer<Float>,
                 count: Int) {
    let factor = SIMD8<Float>(repeating: scale)
    var index = 0
    while index + 8 <= count {
        let product = factor * UnsafeRawPointer(source + index).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(destination + index).storeBytes(of: product, as: SIMD8<Float>.self)
        index += 8
    }
    while index < count {
        destination[index] = scale * source[index]
        index += 1
    }
}

/// Writes `count` elements of `max(x, 0)` from `source` into `destination` (which may be
/// `source`). A NaN stays NaN, as with `max(x, 0)`.
@inline(__always)
func rectify(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, count: Int) {
    var index = 0
    while index + 8 <= count {
        let lanes = UnsafeRawPointer(source + index).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(destination + index)
            .storeBytes(of: lanes.replacing(with: 0, where: lanes .< 0), as: SIMD8<Float>.self)
        index += 8
    }
    while index < count {
        destination[index] = max(source[index], 0)
        index += 1
    }
}

/// Writes the backward of a ReLU read off its output: `gradient` where `output > 0`, else 0,
/// for `count` elements into `destination`.
@inline(__always)
func reluGradient(_ gradient: UnsafePointer<Float>, output: UnsafePointer<Float>,
                  into destination: UnsafeMutablePointer<Float>, count: Int) {
    var index = 0
    while index + 8 <= count {
        let saved = UnsafeRawPointer(output + index).loadUnaligned(as: SIMD8<Float>.self)
        let lanes = UnsafeRawPointer(gradient + index).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(destination + index)
            .storeBytes(of: lanes.replacing(with: 0, where: .!(saved .> 0)), as: SIMD8<Float>.self)
        index += 8
    }
    while index < count {
        destination[index] = output[index] > 0 ? gradient[index] : 0
        index += 1
    }
}

/// Writes `bias` `[width]` into every row of the `[rows, width]` block at `destination` (row
/// stride `stride`).
@inline(__always)
func fillRows(_ destination: UnsafeMutablePointer<Float>, rows: Int, width: Int, stride: Int,
              with bias: UnsafePointer<Float>) {
    for row in 0..<rows {
        copyElements(bias, into: destination + row * stride, count: width)
    }
}

/// Copies `count` elements eight lanes at a time. For the short rows copied here (one bias row,
/// one feature's embedding) this beats a `memmove` call per row. The buffers must not overlap.
@inlinable @inline(__always)
public func copyElements(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, count: Int) {
    var index = 0
    while index + 8 <= count {
        UnsafeMutableRawPointer(destination + index)
            .storeBytes(of: UnsafeRawPointer(source + index).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
        index += 8
    }
    while index < count {
        destination[index] = source[index]
        index += 1
    }
}

extension Variable {
    /// Calls `body` with this variable's gradient buffer, created as zeros when backward has not
    /// reached the variable yet, so that operations reading column blocks of one input can each
    /// add into their own columns in place. Only for variables that require a gradient.
    func withGradientBuffer<Result>(_ body: (UnsafeMutableBufferPointer<Float>) -> Result) -> Result {
        precondition(requiresGradient, "withGradientBuffer on a variable that needs no gradient")
        if gradient == nil {
            gradient = Tensor(zeros: value.shape)
        }
        return gradient!.scalars.withUnsafeMutableBufferPointer { buffer in body(buffer) }
    }
}

/// Returns `Σ_i a[i] · b[i]` over `count` elements, summed in eight lanes so the loop vectorizes
/// (a plain Float sum must keep its order and runs one add at a time).
@inline(__always)
func dotProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = SIMD8<Float>()
    var index = 0
    while index + 8 <= count {
        let left = UnsafeRawPointer(a + index).loadUnaligned(as: SIMD8<Float>.self)
        let right = UnsafeRawPointer(b + index).loadUnaligned(as: SIMD8<Float>.self)
        lanes += left * right
        index += 8
    }
    var total = lanes.sum()
    while index < count {
        total += a[index] * b[index]
        index += 1
    }
    return total
}
