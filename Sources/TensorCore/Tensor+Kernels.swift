/// Internal building blocks for the operations: allocation without a zero fill, and element loops
/// over raw buffers that the optimizer can vectorize.
extension Tensor {
    /// Creates a tensor whose elements `body` writes; `body` must write every element.
    @inline(__always)
    init(shape: [Int], initializingWith body: (UnsafeMutableBufferPointer<Float>) -> Void) {
        let count = shape.reduce(1, *)
        let scalars = [Float](unsafeUninitializedCapacity: count) { buffer, initializedCount in
            body(buffer)
            initializedCount = count
        }
        self.init(shape: shape, scalars: scalars)
    }

    /// Returns `transform` applied to every element.
    @inline(__always)
    func mapScalars(_ transform: (Float) -> Float) -> Tensor {
        scalars.withUnsafeBufferPointer { source in
            Tensor(shape: shape) { destination in
                for i in 0..<source.count { destination[i] = transform(source[i]) }
            }
        }
    }

    /// Returns `combine` applied to the pairs of elements of two tensors of the same shape.
    @inline(__always)
    func zipScalars(_ other: Tensor, _ combine: (Float, Float) -> Float) -> Tensor {
        precondition(shape == other.shape, "element-wise shapes differ: \(shape) and \(other.shape)")
        return scalars.withUnsafeBufferPointer { left in
            other.scalars.withUnsafeBufferPointer { right in
                Tensor(shape: shape) { destination in
                    for i in 0..<left.count { destination[i] = combine(left[i], right[i]) }
                }
            }
        }
    }

    /// Returns the element-wise combination of three tensors of the same shape.
    @inline(__always)
    func zipScalars(_ second: Tensor, _ third: Tensor, _ combine: (Float, Float, Float) -> Float) -> Tensor {
        precondition(shape == second.shape && shape == third.shape,
                     "element-wise shapes differ: \(shape), \(second.shape) and \(third.shape)")
        return scalars.withUnsafeBufferPointer { first in
            second.scalars.withUnsafeBufferPointer { secondBuffer in
                third.scalars.withUnsafeBufferPointer { thirdBuffer in
                    Tensor(shape: shape) { destination in
                        for i in 0..<first.count {
                            destination[i] = combine(first[i], secondBuffer[i], thirdBuffer[i])
                        }
                    }
                }
            }
        }
    }
}

/// Normalizes an axis that may count from the end (`-1` is the last axis) and checks its range.
@inline(__always)
func normalizedAxis(_ axis: Int, rank: Int) -> Int {
    let resolved = axis < 0 ? axis + rank : axis
    precondition(resolved >= 0 && resolved < rank, "axis \(axis) is out of range for rank \(rank)")
    return resolved
}
