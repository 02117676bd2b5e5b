/// Shape letters used in the doc comments of the whole project:
///   B batch rows, F categorical features, D embedding width, N and M layer widths, K a rank or
///   inner width, E experts, T tasks, S scenes, R table rows, W world size (ranks).
/// A shape is written `[B, F·D]`: rank 2, the second axis F times D wide.

/// A contiguous, row-major Float32 array of rank 1 to 3.
///
/// `Tensor` is a value type: copies share storage until one of them is written (the copy-on-write
/// of Swift's `Array`).
public struct Tensor: Sendable, Equatable {
    /// The extent of each axis, outermost first.
    public private(set) var shape: [Int]
    /// The elements in row-major order; `scalars.count` is the product of `shape`.
    public var scalars: [Float]

    /// Creates a tensor from its elements in row-major order.
    public init(shape: [Int], scalars: [Float]) {
        precondition(!shape.isEmpty && shape.count <= 3, "tensor rank must be 1 to 3, got shape \(shape)")
        precondition(shape.allSatisfy { $0 >= 0 }, "tensor shape \(shape) has a negative axis")
        precondition(shape.reduce(1, *) == scalars.count,
                     "shape \(shape) needs \(shape.reduce(1, *)) elements, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    /// Creates a tensor of the given shape with every element equal to `value`.
    public init(repeating value: Float, shape: [Int]) {
        self.init(shape: shape, scalars: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// Creates a tensor of zeros.
    public init(zeros shape: [Int]) {
        self.init(repeating: 0, shape: shape)
    }

    /// Number of elements.
    public var count: Int { scalars.count }

    /// Number of axes (1 to 3).
    public var rank: Int { shape.count }

    /// Returns the same elements under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, scalars: scalars)
    }

    /// Returns the element at a row-major position.
    public subscript(indices: Int...) -> Float {
        get { scalars[offset(indices)] }
        set { scalars[offset(indices)] = newValue }
    }

    private func offset(_ indices: [Int]) -> Int {
        precondition(indices.count == shape.count, "index \(indices) does not match shape \(shape)")
        var flat = 0
        for (axis, index) in indices.enumerated() {
            precondition(index >= 0 && index < shape[axis], "index \(indices) out of range for shape \(shape)")
            flat = flat * shape[axis] + index
        }
        return flat
    }

    /// Adds `other` element-wise into this tensor; both must have the same shape.
    public mutating func add(_ other: Tensor) {
        precondition(shape == other.shape, "cannot add shape \(other.shape) into shape \(shape)")
        scalars.withUnsafeMutableBufferPointer { destination in
            other.scalars.withUnsafeBufferPointer { source in
                guard let d = destination.baseAddress, let s = source.baseAddress else { return }
                ComputeThreads.forEachChunk(count: destination.count) { range in
                    addElements(s + range.lowerBound, into: d + range.lowerBound, count: range.count)
                }
            }
        }
    }
}
