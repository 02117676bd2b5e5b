// Element-wise kernels over SIMD vectors. Swift does not vectorize a loop whose body calls a
// closure, compares floats or sums in order, so the hot loops of the ops and optimizers are
// written here over whole vectors, with the remaining elements done one by one.

/// The vector width of the element-wise kernels. Eight lanes map to two SSE or one AVX register;
/// the loops below handle whole vectors and then the remaining elements one by one.
typealias FloatVector = SIMD8<Float>

@inline(__always)
func loadVector(_ base: UnsafePointer<Float>, _ index: Int) -> FloatVector {
    UnsafeRawPointer(base + index).loadUnaligned(as: FloatVector.self)
}

@inline(__always)
func storeVector(_ value: FloatVector, _ base: UnsafeMutablePointer<Float>, _ index: Int) {
    UnsafeMutableRawPointer(base + index).storeBytes(of: value, as: FloatVector.self)
}

/// Calls `vectorBody` with the start of every whole vector in `0 ..< count`, then `scalarBody`
/// with each remaining index.
@inline(__always)
func forEachVector(count: Int, _ vectorBody: (Int) -> Void, remainder scalarBody: (Int) -> Void) {
    let vectorEnd = count - count % FloatVector.scalarCount
    var i = 0
    while i < vectorEnd {
        vectorBody(i)
        i += FloatVector.scalarCount
    }
    while i < count {
        scalarBody(i)
        i += 1
    }
}

/// Writes `a[i] · b[i]` to `result[i]` for `i < count`.
func multiplyElements(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into result: UnsafeMutablePointer<Float>,
                      count: Int) {
    ComputeThreads.forEachChunk(count: count) { range in
        let (a, b, result) = (a + range.lowerBound, b + range.lowerBound, result + range.lowerBound)
        forEachVector(count: range.count, { i in
            storeVector(loadVector(a, i) * loadVector(b, i), result, i)
        }, remainder: { i in result[i] = a[i] * b[i] })
    }
}

/// Returns the product of two tensors of the same shape.
func multiplied(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.shape == b.shape, "element-wise shapes differ: \(a.shape) and \(b.shape)")
    return a.scalars.withUnsafeBufferPointer { left in
        b.scalars.withUnsafeBufferPointer { right in
            Tensor(shape: a.shape) { result in
                guard let l = left.baseAddress, let r = right.baseAddress, let d = result.baseAddress else { return }
                multiplyElements(l, r, into: d, count: result.count)
            }
        }
    }
}

/// Returns whether every value is finite. `value · 0` is 0 for a finite value and NaN for NaN or
/// an infinity, so a vector sum of those products replaces a branch per element.
public func allFinite(_ values: UnsafeBufferPointer<Float>) -> Bool {
    guard let base = values.baseAddress else { return true }
    var sums = FloatVector()
    var tail: Float = 0
    forEachVector(count: values.count, { i in sums += loadVector(base, i) * 0 },
                  remainder: { i in tail += base[i] * 0 })
    return sums.sum() == 0 && tail == 0
}

/// Copies `count` values from `source` to `target` and returns whether every value is finite,
/// reading each value once for both. The check is that of `allFinite(_:)`.
public func copyCheckingFinite(from source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>,
                               count: Int) -> Bool {
    var sums = FloatVector()
    var tail: Float = 0
    forEachVector(count: count, { i in
        let value = loadVector(source, i)
        storeVector(value, target, i)
        sums += value * 0
    }, remainder: { i in
        target[i] = source[i]
        tail += source[i] * 0
    })
    return sums.sum() == 0 && tail == 0
}
