import Models
import TensorCore

/// The embedding tables of all features, looked up into the model input `[B, F·D]`.
///
/// Two layouts share this interface: `RowShardedEmbeddingTables`, where each row lives on one
/// rank and lookups travel by all-to-all, and `ReplicatedEmbeddingTables`, where every rank holds
/// every row and the gradients travel in the dense allreduce. Every call is collective on the
/// sharded layout: all ranks make it in the same order, including ranks whose batch is empty.
public protocol EmbeddingStore: AnyObject {
    var layout: FeatureLayout { get }
    /// Rows R of each feature's table, including row 0 for missing and unseen values.
    var tableRows: [Int] { get }
    /// Parameters over all ranks: Σ R·D.
    var parameterCount: Int { get }
    /// Tables whose gradients travel in the dense allreduce (the replicated layout), else empty.
    var allreducedTables: [EmbeddingTable] { get }

    /// Gathers the rows of a batch.
    /// - Parameters:
    ///   - ids: `[B, F]` row ids, the features of one row together.
    /// - Returns: `[B, F·D]`, each feature's row at its layout offset.
    func lookup(ids: [Int32], rowCount: Int) throws -> Tensor

    /// Adds the gradient of the model input `[B, F·D]` for the batch of the last `lookup`.
    func accumulateGradient(ids: [Int32], rowCount: Int, inputGradient: Tensor)

    /// Applies the sparse optimizer to every row any rank touched this step, with the gradient
    /// averaged over ranks, and clears the step's gradients. Call after the dense allreduce.
    func applyUpdate() throws

    /// Drops the step's gradients without updating any row, for a batch that every rank skips.
    /// Local: on the sharded layout no rank sends its row gradients, so all ranks must call it
    /// at the same step in place of `applyUpdate`.
    func discardGradient()

    /// Returns the whole table of `feature` `[R·D]` on `root`. On the sharded layout the rows
    /// travel from their owners, one table at a time, and the other ranks get nil.
    func gatherTable(_ feature: Int, root: Int) throws -> [Float]?

    /// Which global rows this rank holds, for checkpoints.
    var rowPlacement: EmbeddingRowPlacement { get }
    /// The optimizer of every table's rows.
    var sparseOptimizer: SparseRowOptimizer { get }
    /// Runs `body` with the rows this rank holds of `feature`'s table, `[localRows·D]`, and their
    /// optimizer state `[localRows·stateWidth]`, in local order (`rowPlacement` maps them to
    /// global rows). A checkpoint reads or replaces them; the counts must not change.
    func withLocalRows<Result>(_ feature: Int,
                               _ body: (inout [Float], inout [Float]) throws -> Result) rethrows -> Result
}

/// Which global rows of every table a rank holds.
public enum EmbeddingRowPlacement: Sendable, Equatable {
    /// Every rank holds every row, in global order.
    case replicated
    /// Each rank holds the rows `RowShardingPlan` assigns it.
    case sharded(RowShardingPlan)

    /// Global row of this rank's local row `localIndex`.
    func globalRow(localIndex: Int, rank: Int) -> Int {
        switch self {
        case .replicated: return localIndex
        case .sharded(let plan): return plan.globalRow(localIndex: localIndex, rank: rank)
        }
    }

    /// Rows of a table of `rows` rows that `rank` holds.
    func localRowCount(rows: Int, rank: Int) -> Int {
        switch self {
        case .replicated: return rows
        case .sharded(let plan): return plan.localRowCount(rows: rows, rank: rank)
        }
    }
}

/// The initial value of one embedding row: uniform in (-0.05, 0.05), as Keras initializes
/// embeddings, drawn from a seed of (run seed, feature, row). A row's values do not depend on
/// which rank holds it, so every layout and world size starts from the same tables.
func initializeEmbeddingRow(_ row: Int, feature: Int, seed: UInt64, into destination: UnsafeMutablePointer<Float>,
                            dimension: Int) {
    var generator = RandomGenerator(seed: mixSeed(seed, UInt64(feature), UInt64(row)))
    for k in 0..<dimension {
        destination[k] = generator.nextUniform(low: -0.05, high: 0.05)
    }
}

/// Which rank owns each table row, and where the row sits in the owner's shard.
///
/// Row r of every table lives on rank `r % W` at local index `r / W`, so consecutive ids, which
/// vocabularies give to values of similar frequency, spread evenly over the ranks.
public struct RowShardingPlan: Sendable, Equatable {
    public let worldSize: Int

    public init(worldSize: Int) {
        precondition(worldSize > 0, "the world size must be positive, got \(worldSize)")
        self.worldSize = worldSize
    }

    public func owner(of row: Int) -> Int { row % worldSize }

    public func localIndex(of row: Int) -> Int { row / worldSize }

    /// The global row of a rank's local index.
    public func globalRow(localIndex: Int, rank: Int) -> Int { localIndex * worldSize + rank }

    /// Rows of a table of `rows` rows that `rank` holds.
    public func localRowCount(rows: Int, rank: Int) -> Int {
        rows > rank ? (rows - rank + worldSize - 1) / worldSize : 0
    }
}
