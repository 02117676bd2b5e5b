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
    rowSeededDropout(x, rate: rate, rowSeeds: rowSeeds, blockLayers: [layer])
}

/// Inverted dropout over side-by-side blocks of equal width, block k with the masks that
/// `rowSeededDropout(_:rate:rowSeeds:layer:)` draws for layer `blockLayers[k]` on that block
/// alone: the towers of several tasks packed into one tensor drop the same units as separate
/// towers would.
/// - Parameters:
///   - x: `[B, K·N]` for K = `blockLayers.count`.
///   - rowSeeds: `[B]`.
public func rowSeededDropout(_ x: Variable, rate: Float, rowSeeds: [UInt64], blockLayers: [UInt64]) -> Variable {
    precondition(rate >= 0 && rate < 1, "dropout rate must be in [0, 1), got \(rate)")
    guard x.graph.isTraining, rate > 0 else { return x }
    precondition(x.shape.count == 2 && x.shape[0] == rowSeeds.count,
                 "dropout input \(x.shape) does not match \(rowSeeds.count) row seeds")
    precondition(!blockLayers.isEmpty && x.shape[1] % blockLayers.count == 0,
                 "dropout input width \(x.shape[1]) does not split into \(blockLayers.count) equal blocks")
    let rows = x.shape[0]
    let width = x.shape[1]
    let blockWidth = width / blockLayers.count
    let keepScale = 1 / (1 - rate)
    let mask = [Float](unsafeUninitializedCapacity: rows * width) { buffer, initializedCount in
        // Each row draws from its own generators, so rows split over threads freely.
        ComputeThreads.forEachChunk(count: rows, minimumChunk: 128, alignment: 1) { chunk in
            for row in chunk {
                for (block, layer) in blockLayers.enumerated() {
                    var generator = RandomGenerator(seed: rowSeeds[row] &+ layer &* 0x9E37_79B9_7F4A_7C15)
                    let start = row * width + block * blockWidth
                    for column in 0..<blockWidth {
                        buffer[start + column] = generator.nextFloat() >= rate ? keepScale : 0
                    }
                }
            }
        }
        initializedCount = rows * width
    }
    return x * x.graph.constant(Tensor(shape: [rows, width], scalars: mask))
}
