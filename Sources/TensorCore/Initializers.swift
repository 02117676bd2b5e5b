/// How a parameter tensor is filled before training.
public enum Initializer: Sendable {
    /// Uniform in `[-limit, limit)` with `limit = sqrt(6 / (fanIn + fanOut))` (Glorot and Bengio,
    /// 2010), the Keras default for dense kernels. For rank 2 `[N, M]` weights stored input-major,
    /// `fanIn = N = shape[0]` and `fanOut = M = shape[1]`. Rank 1 uses `fanIn = fanOut = shape[0]`,
    /// and rank 3 `[E, N, M]` uses `fanIn = N`, `fanOut = M` (one Glorot matrix per leading index).
    case glorotUniform
    /// Uniform in `[low, high)`.
    case uniform(low: Float, high: Float)
    case zeros
    case constant(Float)

    /// Returns a tensor of `shape` filled by this initializer, drawing from `generator` in
    /// row-major order.
    public func makeTensor(shape: [Int], generator: inout RandomGenerator) -> Tensor {
        switch self {
        case .zeros:
            return Tensor(zeros: shape)
        case .constant(let value):
            return Tensor(repeating: value, shape: shape)
        case .uniform(let low, let high):
            return uniformTensor(shape: shape, low: low, high: high, generator: &generator)
        case .glorotUniform:
            let (fanIn, fanOut) = Initializer.fans(of: shape)
            let limit = (6 / Float(fanIn + fanOut)).squareRoot()
            return uniformTensor(shape: shape, low: -limit, high: limit, generator: &generator)
        }
    }

    /// The fan-in and fan-out used by `glorotUniform` for `shape`.
    static func fans(of shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        switch shape.count {
        case 1:
            return (shape[0], shape[0])
        case 2:
            return (shape[0], shape[1])
        default:
            return (shape[shape.count - 2], shape[shape.count - 1])
        }
    }

    private func uniformTensor(shape: [Int], low: Float, high: Float, generator: inout RandomGenerator) -> Tensor {
        var tensor = Tensor(zeros: shape)
        for i in 0..<tensor.count {
            tensor.scalars[i] = generator.nextUniform(low: low, high: high)
        }
        return tensor
    }
}
