import TensorCore

/// Mixes integers into one well-spread 64-bit seed (the SplitMix64 finalizer over a running value),
/// so seeds derived from (run seed, epoch, step, row) do not collide in practice.
public func mixSeed(_ values: UInt64...) -> UInt64 {
    values.reduce(SeedMixer()) { $0.mixing($1) }.seed
}

/// The running value of `mixSeed`, for callers that derive many seeds from a common prefix:
/// `mixSeed(a, b, c)` equals `SeedMixer().mixing(a).mixing(b).mixing(c).seed`, so the prefix
/// `a, b` can be mixed once and `c` varied, without the array a variadic call allocates.
public struct SeedMixer: Sendable {
    public private(set) var seed: UInt64 = 0x6A09_E667_F3BC_C908

    public init() {}

    /// Returns the mixer after mixing in `value`.
    @inline(__always)
    public func mixing(_ value: UInt64) -> SeedMixer {
        var state = (seed ^ value) &+ 0x9E37_79B9_7F4A_7C15
        state = (state ^ (state >> 30)) &* 0xBF58_476D_1CE4_E5B9
        state = (state ^ (state >> 27)) &* 0x94D0_49BB_1331_11EB
        state ^= state >> 31
        var mixed = self
        mixed.seed = state
        return mixed
    }
}

/// Splits `count` items into `parts` contiguous ranges whose sizes differ by at most one, the
/// first `count % parts` ranges one larger. Ranges may be empty when `count < parts`.
public func shardRange(count: Int, parts: Int, index: Int) -> Range<Int> {
    precondition(parts > 0 && index >= 0 && index < parts, "shard \(index) of \(parts) is out of range")
    let base = count / parts
    let remainder = count % parts
    let start = index * base + min(index, remainder)
    let size = base + (index < remainder ? 1 : 0)
    return start..<(start + size)
}

/// The order of one epoch's training rows and each rank's share of every step.
///
/// The whole training set is shuffled with a seed derived from the run seed and the epoch, then
/// cut into global batches of `globalBatchSize` rows (the last one may be smaller). Each global
/// batch is split into W contiguous slices, one per rank. So the rows of a step, and the order in
/// which they are summed into the loss, do not depend on the world size; a rank whose slice is
/// empty still takes part in every step's collectives.
public struct EpochPlan: Sendable {
    public let epoch: Int
    public let rowCount: Int
    public let globalBatchSize: Int
    public let worldSize: Int
    public let rank: Int
    /// Training rows in this epoch's order: `permutation[i]` is a row of the training split.
    public let permutation: [Int]

    public init(epoch: Int, rowCount: Int, globalBatchSize: Int, worldSize: Int, rank: Int, seed: UInt64) {
        precondition(globalBatchSize > 0, "the batch size must be positive, got \(globalBatchSize)")
        self.epoch = epoch
        self.rowCount = rowCount
        self.globalBatchSize = globalBatchSize
        self.worldSize = worldSize
        self.rank = rank
        var order = Array(0..<rowCount)
        var generator = RandomGenerator(seed: mixSeed(seed, 0x45504F43, UInt64(epoch)))
        generator.shuffle(&order)
        permutation = order
    }

    /// Steps in the epoch, the same on every rank: the last partial batch is kept.
    public var stepCount: Int { (rowCount + globalBatchSize - 1) / globalBatchSize }

    /// Positions in `permutation` of the step's global batch.
    public func globalRange(step: Int) -> Range<Int> {
        let start = step * globalBatchSize
        return start..<min(start + globalBatchSize, rowCount)
    }

    /// Positions in `permutation` of this rank's slice of the step's global batch.
    public func localRange(step: Int) -> Range<Int> {
        let global = globalRange(step: step)
        let local = shardRange(count: global.count, parts: worldSize, index: rank)
        return (global.lowerBound + local.lowerBound)..<(global.lowerBound + local.upperBound)
    }

    /// Rows this rank trains on over the whole epoch.
    public var localRowCount: Int {
        (0..<stepCount).reduce(0) { $0 + localRange(step: $1).count }
    }
}
