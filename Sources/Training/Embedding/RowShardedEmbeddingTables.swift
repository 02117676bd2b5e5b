import Communication
import Foundation
import Models
import TensorCore

/// The rows of one table that this rank owns: global rows `rank, rank + W, rank + 2W, ...`.
final class EmbeddingShard {
    let feature: Int
    let rows: Int
    let dimension: Int
    let stateWidth: Int
    /// `[localRows·D]`.
    var weights: [Float]
    /// `[localRows·stateWidth]`.
    var optimizerState: [Float]

    init(feature: Int, rows: Int, dimension: Int, stateWidth: Int, initialState: Float, plan: RowShardingPlan,
         rank: Int, seed: UInt64) {
        self.feature = feature
        self.rows = rows
        self.dimension = dimension
        self.stateWidth = stateWidth
        let localRows = plan.localRowCount(rows: rows, rank: rank)
        var weights = [Float](repeating: 0, count: localRows * dimension)
        weights.withUnsafeMutableBufferPointer { buffer in
            for local in 0..<localRows {
                initializeEmbeddingRow(plan.globalRow(localIndex: local, rank: rank), feature: feature, seed: seed,
                                       into: buffer.baseAddress! + local * dimension, dimension: dimension)
            }
        }
        self.weights = weights
        optimizerState = [Float](repeating: initialState, count: localRows * stateWidth)
    }

    var bytes: Int { (weights.count + optimizerState.count) * MemoryLayout<Float>.size }
}

/// Embedding tables whose rows are spread over the ranks (`RowShardingPlan`): each row, with its
/// optimizer state, lives on one rank only, so W ranks hold tables W times larger than one could.
///
/// A step runs in three stages, each an all-to-all:
/// 1. input dist: each rank de-duplicates the (feature, id) pairs of its batch and sends every
///    owner the ids it needs;
/// 2. lookup: owners copy the requested rows and send them back, and each rank assembles its
///    model input `[B, F·D]` from the unique rows;
/// 3. gradient dist: after backward, each rank sums the gradient of every unique row over its
///    batch and sends it to the row's owner, which sums what all ranks sent in rank order,
///    divides by W (the gradient of the global mean loss) and applies the sparse optimizer.
///
/// With two ranks, rank 0 owning even ids and rank 1 odd ids, and batches {4, 5} on rank 0 and
/// {5, 6} on rank 1: rank 0 requests 4 from itself and 5 from rank 1; rank 1 requests 6 from
/// rank 0 and 5 from itself. Rank 1 then receives gradients for row 5 from both ranks and
/// updates it once with their average.
public final class RowShardedEmbeddingTables: EmbeddingStore {
    public let layout: FeatureLayout
    public let tableRows: [Int]
    public let plan: RowShardingPlan
    let communicator: Communicator
    let optimizer: SparseRowOptimizer
    let shards: [EmbeddingShard]
    /// Seconds spent in each exchange since creation, for benchmarks.
    public private(set) var lookupExchangeSeconds = 0.0
    public private(set) var gradientExchangeSeconds = 0.0

    // The last lookup, kept for the gradient exchange.
    /// Unique keys `(feature << 40) | id` requested from each owner, `[W][n_d]`, in the order sent.
    private var requestedKeys: [[Int64]] = []
    /// The summed gradient of each unique row of the batch. Rows are stored in the order of
    /// `requestedKeys` (owner 0's keys first), so each owner's gradients are one contiguous run.
    private var uniqueGradients: [Float] = []
    /// The start of each owner's run in `uniqueGradients`, `[W + 1]`; the last entry is its count.
    private var ownerOffsets: [Int] = []
    /// The offset of each batch position's unique row, `[B·F]`, so the gradient pass needs no
    /// hashing.
    private var positionOffsets: [Int] = []
    /// Keys other ranks requested from this rank, `[W][m_s]`, for applying their gradients.
    private var servedKeys: [[Int64]] = []

    public init(layout: FeatureLayout, rowCounts: [Int], optimizer: SparseRowOptimizer, initialState: Float,
                seed: UInt64, communicator: Communicator) {
        precondition(rowCounts.count == layout.names.count, "\(rowCounts.count) table sizes for \(layout.names.count) features")
        precondition(rowCounts.allSatisfy { $0 < (1 << 40) }, "table rows must stay below 2^40")
        self.layout = layout
        self.tableRows = rowCounts
        self.optimizer = optimizer
        self.communicator = communicator
        plan = RowShardingPlan(worldSize: communicator.worldSize)
        shards = layout.widths.enumerated().map { feature, dimension in
            EmbeddingShard(feature: feature, rows: rowCounts[feature], dimension: dimension,
                           stateWidth: optimizer.stateWidth(dimension: dimension), initialState: initialState,
                           plan: RowShardingPlan(worldSize: communicator.worldSize), rank: communicator.rank, seed: seed)
        }
    }

    public var parameterCount: Int { zip(tableRows, layout.widths).reduce(0) { $0 + $1.0 * $1.1 } }
    public var allreducedTables: [EmbeddingTable] { [] }

    /// Bytes of rows and optimizer state this rank holds, per feature.
    public var localBytes: [Int] { shards.map(\.bytes) }

    /// Returns the rows and bytes each rank stores for every table, optimizer state included, assuming the
    /// state width of this rank's optimizer.
    public func planSummary() -> [(feature: String, rows: Int, rowsPerRank: [Int], bytesPerRank: [Int])] {
        shards.map { shard in
            let rowsPerRank = (0..<plan.worldSize).map { plan.localRowCount(rows: shard.rows, rank: $0) }
            let rowBytes = (shard.dimension + shard.stateWidth) * MemoryLayout<Float>.size
            return (layout.names[shard.feature], shard.rows, rowsPerRank, rowsPerRank.map { $0 * rowBytes })
        }
    }

    static func key(feature: Int, id: Int) -> Int64 { Int64(feature) << 40 | Int64(id) }
    static func feature(of key: Int64) -> Int { Int(key >> 40) }
    static func id(of key: Int64) -> Int { Int(key & ((1 << 40) - 1)) }

    public func lookup(ids: [Int32], rowCount: Int) throws -> Tensor {
        let featureCount = layout.names.count
        precondition(ids.count == rowCount * featureCount, "\(ids.count) ids for \(rowCount) rows of \(featureCount) features")
        let start = DispatchClock.now()

        // Input dist: the unique keys of the batch, grouped by owner and sorted, so that the
        // messages do not depend on the order of the rows.
        let positions = rowCount * featureCount
        var unique = KeyIndex(capacity: positions)
        var uniqueOfPosition = [Int32](repeating: 0, count: positions)
        for row in 0..<rowCount {
            for feature in 0..<featureCount {
                let position = row * featureCount + feature
                let id = Int(ids[position])
                precondition(id >= 0 && id < tableRows[feature],
                             "id \(id) out of range for table \(layout.names[feature]) of \(tableRows[feature]) rows")
                uniqueOfPosition[position] = Int32(unique.insert(Self.key(feature: feature, id: id)))
            }
        }
        var requests = [[Int64]](repeating: [], count: plan.worldSize)
        for key in unique.keys.sorted() {
            requests[plan.owner(of: Self.id(of: key))].append(key)
        }
        requestedKeys = requests
        servedKeys = try communicator.allToAllV(requests)

        // Lookup: copy the requested rows and send them back.
        var responses = [[Float]](repeating: [], count: plan.worldSize)
        for (source, keys) in servedKeys.enumerated() {
            var block = [Float]()
            block.reserveCapacity(keys.count * 8)
            for key in keys {
                let shard = shards[Self.feature(of: key)]
                let local = plan.localIndex(of: Self.id(of: key))
                block.append(contentsOf: shard.weights[(local * shard.dimension)..<((local + 1) * shard.dimension)])
            }
            responses[source] = block
        }
        let rows = try communicator.allToAllV(responses)

        // Assemble: the received blocks, in owner order, are the unique rows; copy each to
        // every batch position using it.
        var uniqueRows = [Float]()
        var offsetOfUnique = [Int](repeating: 0, count: unique.count)
        var owners = [0]
        for (owner, keys) in requests.enumerated() {
            var offset = 0
            for key in keys {
                offsetOfUnique[unique.index(of: key)!] = uniqueRows.count + offset
                offset += layout.widths[Self.feature(of: key)]
            }
            precondition(offset == rows[owner].count, "rank \(owner) sent \(rows[owner].count) floats for rows of \(offset)")
            uniqueRows.append(contentsOf: rows[owner])
            owners.append(uniqueRows.count)
        }
        ownerOffsets = owners
        let offsets = uniqueOfPosition.map { offsetOfUnique[Int($0)] }
        positionOffsets = offsets
        let width = layout.totalWidth
        let widths = layout.widths
        let columns = layout.offsets
        // Gather: every element of the output is written once, so the rows split over threads.
        let output = [Float](unsafeUninitializedCapacity: rowCount * width) { destination, initialized in
            uniqueRows.withUnsafeBufferPointer { source in
                ComputeThreads.forEachChunk(count: rowCount, minimumChunk: 256, alignment: 1) { rows in
                    for row in rows {
                        for feature in 0..<featureCount {
                            (destination.baseAddress! + row * width + columns[feature])
                                .initialize(from: source.baseAddress! + offsets[row * featureCount + feature],
                                            count: widths[feature])
                        }
                    }
                }
            }
            initialized = rowCount * width
        }
        uniqueGradients = [Float](repeating: 0, count: uniqueRows.count)
        lookupExchangeSeconds += DispatchClock.seconds(since: start)
        return Tensor(shape: [rowCount, width], scalars: output)
    }

    public func accumulateGradient(ids: [Int32], rowCount: Int, inputGradient: Tensor) {
        let featureCount = layout.names.count
        precondition(positionOffsets.count == rowCount * featureCount, "accumulateGradient needs the batch of the last lookup")
        let width = layout.totalWidth
        let widths = layout.widths
        let columns = layout.offsets
        let offsets = positionOffsets
        var target = uniqueGradients
        uniqueGradients = []
        target.withUnsafeMutableBufferPointer { target in
            inputGradient.scalars.withUnsafeBufferPointer { gradient in
                // Scatter: features own disjoint unique rows, so threads split the features and
                // each row still sums its positions in row order.
                let threads = rowCount * featureCount >= 16_384 ? min(ComputeThreads.count, featureCount) : 1
                ComputeThreads.forEachChunk(count: threads, minimumChunk: 1, alignment: 1) { chunk in
                    for thread in chunk {
                        for row in 0..<rowCount {
                            for feature in stride(from: thread, to: featureCount, by: threads) {
                                let destination = target.baseAddress! + offsets[row * featureCount + feature]
                                let source = gradient.baseAddress! + row * width + columns[feature]
                                for k in 0..<widths[feature] { destination[k] += source[k] }
                            }
                        }
                    }
                }
            }
        }
        uniqueGradients = target
    }

    public func applyUpdate() throws {
        let start = DispatchClock.now()

        // Gradient dist: each owner receives, per source, the gradients of the keys it served,
        // which are one contiguous run of `uniqueGradients`.
        precondition(ownerOffsets.count == plan.worldSize + 1, "applyUpdate needs the lookup of the same step first")
        let outgoing = (0..<plan.worldSize).map { owner in
            Array(uniqueGradients[ownerOffsets[owner]..<ownerOffsets[owner + 1]])
        }
        let incoming = try communicator.allToAllV(outgoing)

        // Sum per row in rank order, so the result does not depend on arrival order.
        var rowsServed = KeyIndex(capacity: servedKeys.reduce(0) { $0 + $1.count })
        var sums: [Float] = []
        var sumOffsets: [Int] = []
        for (source, keys) in servedKeys.enumerated() {
            var offset = 0
            incoming[source].withUnsafeBufferPointer { gradient in
                for key in keys {
                    let dimension = layout.widths[Self.feature(of: key)]
                    let index = rowsServed.insert(key)
                    if index == sumOffsets.count {
                        sumOffsets.append(sums.count)
                        sums.append(contentsOf: gradient[offset..<(offset + dimension)])
                    } else {
                        let start = sumOffsets[index]
                        for k in 0..<dimension { sums[start + k] += gradient[offset + k] }
                    }
                    offset += dimension
                }
            }
        }

        optimizer.beginStep()
        let scale = 1 / Float(plan.worldSize)
        sums.withUnsafeMutableBufferPointer { sums in
            for (index, key) in rowsServed.keys.enumerated() {
                let shard = shards[Self.feature(of: key)]
                let local = plan.localIndex(of: Self.id(of: key))
                let gradient = sums.baseAddress! + sumOffsets[index]
                for k in 0..<shard.dimension { gradient[k] *= scale }
                shard.weights.withUnsafeMutableBufferPointer { weights in
                    shard.optimizerState.withUnsafeMutableBufferPointer { state in
                        optimizer.updateRow(weights: weights.baseAddress! + local * shard.dimension,
                                            state: state.baseAddress! + local * shard.stateWidth,
                                            gradient: gradient, dimension: shard.dimension)
                    }
                }
            }
        }
        discardGradient()
        gradientExchangeSeconds += DispatchClock.seconds(since: start)
    }

    public func discardGradient() {
        requestedKeys = []
        servedKeys = []
        ownerOffsets = []
        uniqueGradients = []
        positionOffsets = []
    }

    public var rowPlacement: EmbeddingRowPlacement { .sharded(plan) }
    public var sparseOptimizer: SparseRowOptimizer { optimizer }

    public func withLocalRows<Result>(_ feature: Int,
                                      _ body: (inout [Float], inout [Float]) throws -> Result) rethrows -> Result {
        let shard = shards[feature]
        let counts = (shard.weights.count, shard.optimizerState.count)
        defer {
            precondition((shard.weights.count, shard.optimizerState.count) == counts,
                         "the rows of \(layout.names[feature]) changed size from \(counts)")
        }
        return try body(&shard.weights, &shard.optimizerState)
    }

    public func gatherTable(_ feature: Int, root: Int) throws -> [Float]? {
        let shard = shards[feature]
        let gathered = try communicator.gather(shard.weights, toRoot: root)
        guard communicator.rank == root else { return nil }
        var table = [Float](repeating: 0, count: shard.rows * shard.dimension)
        for (rank, weights) in gathered.enumerated() {
            for local in 0..<plan.localRowCount(rows: shard.rows, rank: rank) {
                let row = plan.globalRow(localIndex: local, rank: rank)
                table.replaceSubrange((row * shard.dimension)..<((row + 1) * shard.dimension),
                                      with: weights[(local * shard.dimension)..<((local + 1) * shard.dimension)])
            }
        }
        return table
    }
}

/// Monotonic time for phase timings.
enum DispatchClock {
    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    static func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
}
