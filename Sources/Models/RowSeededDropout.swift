import TensorCore

/// Inverted dropout whose mask for each row comes from that row's own seed.
///
/// Drawing per row, rather than from one stream for the batch, keeps the masks independent of how
/// the global batch is split across ranks. `layer` tells apart the dropout layers of one model.
/// Identity outside training or when `rate` is 0.
/// - Parameters:
///   - x: `[B, N]`.
///   - rowSeeds: `[B]`.
public func rowSeededDropout(_ x: Variable, rate: Float, rowSeeds: [UInt64], layer: UInt64) -> Variable {
    precondition(rate >= 0 && rate < 1, "dropout rate must be in [0, 1), got \(rate)")
    guard x.graph.isTraining, rate > 0 else { return x }
    precondition(x.shape.count == 2 && x.shape[0] == rowSeeds.count,
                 "dropout input \(x.shape) does not match \(rowSeeds.count) row seeds")
    let rows = x.shape[0]
    let width = x.shape[1]
    let keepScale = 1 / (1 - rate)
    let mask = [Float](unsafeUninitializedCapacity: rows * width) { buffer, initializedCount in
        // Each row draws from its own generator, so rows split over threads freely.
        ComputeThreads.forEachChunk(count: rows, minimumChunk: 128, alignment: 1) { chunk in
            for row in chunk {
                var generator = RandomGenerator(seed: rowSeeds[row] &+ layer &* 0x9E37_79B9_7F4A_7C15)
                for column in 0..<width {
                    buffer[row * width + column] = generator.nextFloat() >= rate ? keepScale : 0
                }
            }
        }
        initializedCount = rows * width
    }
    return x * x.graph.constant(Tensor(shape: [rows, width], scalars: mask))
}
