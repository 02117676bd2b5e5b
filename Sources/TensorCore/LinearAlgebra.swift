// Matrix products through OpenBLAS sgemm, forward and backward.
//
// With `op(x)` meaning `x` or its transpose, a product `c = op(a) · op(b)` has the gradients
// `dop(a) = dc · op(b)ᵀ` and `dop(b) = op(a)ᵀ · dc`. Each backward below writes those as one
// sgemm in the storage layout of `a` and `b`, so no transposed copy is ever made.

/// Calls sgemm on row-major tensors, starting at element offsets, with `beta = 0` (overwrite) or
/// `beta = 1` (accumulate into `c`). The leading dimensions are those of the stored matrices.
@inline(__always)
func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
          a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
          accumulate: Bool) {
    if k == 0 {
        // An empty inner product is zero; sgemm is not relied on to scale c by beta here.
        if !accumulate { c.update(repeating: 0, count: m * n) }
        return
    }
    BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1,
               a: a, lda: transposeA ? m : k, b: b, ldb: transposeB ? k : n,
               beta: accumulate ? 1 : 0, c: c, ldc: n)
}

/// The matrix-level gradients of `c = op(a) · op(b)` for one sample, each written in the layout
/// `a` or `b` is stored in (`[M, K]` or `[K, M]` for `a`, `[K, N]` or `[N, K]` for `b`).
/// `dc` is `[M, N]`. Both write with `accumulate` (adding into the destination when true).
@inline(__always)
func gemmGradientA(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                   dc: UnsafePointer<Float>, b: UnsafePointer<Float>, da: UnsafeMutablePointer<Float>,
                   accumulate: Bool) {
    switch (transposeA, transposeB) {
    case (false, false):  // da [M,K] = dc [M,N] · bᵀ, b stored [K,N]
        gemm(transposeA: false, transposeB: true, m: m, n: k, k: n, a: dc, b: b, c: da, accumulate: accumulate)
    case (false, true):  // da [M,K] = dc [M,N] · b, b stored [N,K]
        gemm(transposeA: false, transposeB: false, m: m, n: k, k: n, a: dc, b: b, c: da, accumulate: accumulate)
    case (true, false):  // da [K,M] = b [K,N] · dcᵀ
        gemm(transposeA: false, transposeB: true, m: k, n: m, k: n, a: b, b: dc, c: da, accumulate: accumulate)
    case (true, true):  // da [K,M] = bᵀ · dcᵀ, b stored [N,K]
        gemm(transposeA: true, transposeB: true, m: k, n: m, k: n, a: b, b: dc, c: da, accumulate: accumulate)
    }
}

@inline(__always)
func gemmGradientB(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                   dc: UnsafePointer<Float>, a: UnsafePointer<Float>, db: UnsafeMutablePointer<Float>,
                   accumulate: Bool) {
    switch (transposeA, transposeB) {
    case (false, false):  // db [K,N] = aᵀ · dc, a stored [M,K]
        gemm(transposeA: true, transposeB: false, m: k, n: n, k: m, a: a, b: dc, c: db, accumulate: accumulate)
    case (true, false):  // db [K,N] = a · dc, a stored [K,M]
        gemm(transposeA: false, transposeB: false, m: k, n: n, k: m, a: a, b: dc, c: db, accumulate: accumulate)
    case (false, true):  // db [N,K] = dcᵀ · a, a stored [M,K]
        gemm(transposeA: true, transposeB: false, m: n, n: k, k: m, a: dc, b: a, c: db, accumulate: accumulate)
    case (true, true):  // db [N,K] = dcᵀ · aᵀ, a stored [K,M]
        gemm(transposeA: true, transposeB: true, m: n, n: k, k: m, a: dc, b: a, c: db, accumulate: accumulate)
    }
}

/// Returns the product `op(a) · op(b)` of two matrices: `op(a)` is `[M, K]` (so `a` is `[M, K]`,
/// or `[K, M]` with `transposeA`), `op(b)` is `[K, N]` (`b` is `[K, N]`, or `[N, K]` with
/// `transposeB`), and the result is `[M, N]`.
public func matmul(_ a: Variable, _ b: Variable, transposeA: Bool = false, transposeB: Bool = false) -> Variable {
    precondition(a.value.rank == 2 && b.value.rank == 2,
                 "matmul needs two matrices, got shapes \(a.shape) and \(b.shape)")
    let m = transposeA ? a.shape[1] : a.shape[0]
    let k = transposeA ? a.shape[0] : a.shape[1]
    let bInner = transposeB ? b.shape[1] : b.shape[0]
    let n = transposeB ? b.shape[0] : b.shape[1]
    precondition(k == bInner, "matmul inner widths differ: op(a) is [\(m), \(k)], op(b) is [\(bInner), \(n)]")

    let value = a.value.scalars.withUnsafeBufferPointer { left in
        b.value.scalars.withUnsafeBufferPointer { right in
            Tensor(shape: [m, n]) { output in
                gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                     a: left.baseAddress!, b: right.baseAddress!, c: output.baseAddress!, accumulate: false)
            }
        }
    }
    return a.graph.record(value, inputs: [a, b]) { gradient in
        gradient.scalars.withUnsafeBufferPointer { dc in
            if a.requiresGradient {
                let da = b.value.scalars.withUnsafeBufferPointer { right in
                    Tensor(shape: a.shape) { da in
                        gemmGradientA(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                                      dc: dc.baseAddress!, b: right.baseAddress!, da: da.baseAddress!,
                                      accumulate: false)
                    }
                }
                a.accumulate(da)
            }
            if b.requiresGradient {
                let db = a.value.scalars.withUnsafeBufferPointer { left in
                    Tensor(shape: b.shape) { db in
                        gemmGradientB(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                                      dc: dc.baseAddress!, a: left.baseAddress!, db: db.baseAddress!,
                                      accumulate: false)
                    }
                }
                b.accumulate(db)
            }
        }
    }
}

/// Returns the per-sample products `op(a[i]) · op(b[i])` for a batch: `a` is `[B, M, K]` (or
/// `[B, K, M]` with `transposeA`), `b` is `[B, K, N]` (or `[B, N, K]` with `transposeB`), and the
/// result is `[B, M, N]`. This covers per-sample weights such as `[B, 1, K] · [B, K, K]`.
///
/// `b` may instead be one matrix `[K, N]` (or `[N, K]`) shared by every sample. Without
/// `transposeA` that is a single `[B·M, K] · [K, N]` GEMM.
public func batchedMatmul(_ a: Variable, _ b: Variable, transposeA: Bool = false,
                          transposeB: Bool = false) -> Variable {
    precondition(a.value.rank == 3, "batchedMatmul needs a of rank 3 [B, M, K], got shape \(a.shape)")
    precondition(b.value.rank == 3 || b.value.rank == 2,
                 "batchedMatmul needs b of rank 3 [B, K, N] or 2 [K, N], got shape \(b.shape)")
    let batch = a.shape[0]
    let shared = b.value.rank == 2
    let bMatrix = shared ? b.shape : Array(b.shape.dropFirst())
    if !shared {
        precondition(b.shape[0] == batch, "batchedMatmul batch sizes differ: a \(a.shape), b \(b.shape)")
    }
    let m = transposeA ? a.shape[2] : a.shape[1]
    let k = transposeA ? a.shape[1] : a.shape[2]
    let bInner = transposeB ? bMatrix[1] : bMatrix[0]
    let n = transposeB ? bMatrix[0] : bMatrix[1]
    precondition(k == bInner,
                 "batchedMatmul inner widths differ: op(a) is [\(batch), \(m), \(k)], op(b) is [\(bInner), \(n)]")

    // One GEMM over the stacked rows when every sample shares b and a needs no transpose.
    let stacked = shared && !transposeA
    let aStride = m * k
    let bStride = shared ? 0 : k * n
    let cStride = m * n

    let value = a.value.scalars.withUnsafeBufferPointer { left in
        b.value.scalars.withUnsafeBufferPointer { right in
            Tensor(shape: [batch, m, n]) { output in
                if stacked {
                    gemm(transposeA: false, transposeB: transposeB, m: batch * m, n: n, k: k,
                         a: left.baseAddress!, b: right.baseAddress!, c: output.baseAddress!, accumulate: false)
                    return
                }
                for sample in 0..<batch {
                    gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                         a: left.baseAddress! + sample * aStride, b: right.baseAddress! + sample * bStride,
                         c: output.baseAddress! + sample * cStride, accumulate: false)
                }
            }
        }
    }
    return a.graph.record(value, inputs: [a, b]) { gradient in
        gradient.scalars.withUnsafeBufferPointer { dc in
            if a.requiresGradient {
                let da = b.value.scalars.withUnsafeBufferPointer { right in
                    Tensor(shape: a.shape) { da in
                        if stacked {
                            gemmGradientA(transposeA: false, transposeB: transposeB, m: batch * m, n: n, k: k,
                                          dc: dc.baseAddress!, b: right.baseAddress!, da: da.baseAddress!,
                                          accumulate: false)
                            return
                        }
                        for sample in 0..<batch {
                            gemmGradientA(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                                          dc: dc.baseAddress! + sample * cStride,
                                          b: right.baseAddress! + sample * bStride,
                                          da: da.baseAddress! + sample * aStride, accumulate: false)
                        }
                    }
                }
                a.accumulate(da)
            }
            if b.requiresGradient {
                let db = a.value.scalars.withUnsafeBufferPointer { left in
                    Tensor(shape: b.shape) { db in
                        if stacked {
                            gemmGradientB(transposeA: false, transposeB: transposeB, m: batch * m, n: n, k: k,
                                          dc: dc.baseAddress!, a: left.baseAddress!, db: db.baseAddress!,
                                          accumulate: false)
                            return
                        }
                        // A shared b sums the gradients of all samples: the first overwrites, the rest add.
                        for sample in 0..<batch {
                            gemmGradientB(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                                          dc: dc.baseAddress! + sample * cStride,
                                          a: left.baseAddress! + sample * aStride,
                                          db: db.baseAddress! + sample * bStride,
                                          accumulate: shared && sample > 0)
                        }
                        if batch == 0 {
                            db.update(repeating: 0)
                        }
                    }
                }
                b.accumulate(db)
            }
        }
    }
}
