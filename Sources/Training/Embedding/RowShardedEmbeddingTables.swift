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

    /// The counts of the exchange of the last `lookup`, kept for the gradient exchange.
    private struct PendingStep {
        /// B·F of the batch.
        let positions: Int
        /// Floats of the unique rows, U·D.
        let uniqueFloats: Int
        /// Floats of rows requested from each owner, `[W]`. The gradients go back in the same runs.
        let floatsPerOwner: [Int]
        /// Keys each source requested from this rank, `[W]`.
        let servedKeysPerSource: [Int]
        /// Floats of rows sent to each source, `[W]`. Its gradients come back in the same runs.
        let servedFloatsPerSource: [Int]
    }

    private var pending: PendingStep?
    private let buffers = ExchangeBuffers()
    /// Unique (feature, id) pairs of this rank's batch.
    private let batchRows: RowIndexMap
    /// Distinct (feature, local row) pairs whose gradients other ranks sent.
    private let servedRows: RowIndexMap
    /// Bit layout of the sort key `(owner << ownerShift) | (feature << idBits) | id`, which
    /// orders the unique rows by owner, then feature, then id.
    private let idBits: Int
    private let ownerShift: Int
    private let sortKeyBits: Int

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
        batchRows = RowIndexMap(rowCounts: rowCounts)
        let localPlan = RowShardingPlan(worldSize: communicator.worldSize)
        servedRows = RowIndexMap(rowCounts: rowCounts.map { localPlan.localRowCount(rows: $0, rank: communicator.rank) })
        idBits = bitWidth(below: rowCounts.max() ?? 0)
        ownerShift = idBits + bitWidth(below: rowCounts.count)
        sortKeyBits = ownerShift + bitWidth(below: communicator.worldSize)
        precondition(sortKeyBits <= 64, "row ids, features and ranks need \(sortKeyBits) key bits, more than 64")
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
        let positions = rowCount * featureCount
        let worldSize = plan.worldSize
        let widths = layout.widths
        pending = nil

        // Input dist: the unique keys of the batch, grouped by owner and sorted, so that the
        // messages do not depend on the order of the rows.
        let uniqueOfPosition = buffers.uniqueOfPosition.reserve(positions)
        let sortKeys = buffers.sortKeys.reserve(positions)
        let sortIndices = buffers.sortIndices.reserve(positions)
        batchRows.removeAll(capacity: positions)
        ids.withUnsafeBufferPointer { ids in
            for feature in 0..<featureCount {
                let rows = tableRows[feature]
                let featureKey = UInt64(feature) << idBits
                for row in 0..<rowCount {
                    let position = row * featureCount + feature
                    let id = Int(ids[position])
                    precondition(id >= 0 && id < rows,
                                 "id \(id) out of range for table \(layout.names[feature]) of \(rows) rows")
                    let known = batchRows.count
                    let index = batchRows.insert(feature: feature, row: id)
                    if index == known {
                        sortKeys[index] = UInt64(plan.owner(of: id)) << ownerShift | featureKey | UInt64(id)
                        sortIndices[index] = Int32(index)
                    }
                    uniqueOfPosition[position] = Int32(index)
                }
            }
        }
        let uniqueCount = batchRows.count
        radixSort(keys: sortKeys, values: sortIndices, count: uniqueCount, keyBits: sortKeyBits,
                  scratchKeys: buffers.sortScratchKeys.reserve(uniqueCount),
                  scratchValues: buffers.sortScratchIndices.reserve(uniqueCount))

        // The sorted keys are the requests; a unique row's rows arrive at the running offset.
        let requestedKeys = buffers.requestedKeys.reserve(uniqueCount)
        let offsetOfUnique = buffers.offsetOfUnique.reserve(uniqueCount)
        var keysPerOwner = [Int](repeating: 0, count: worldSize)
        var floatsPerOwner = [Int](repeating: 0, count: worldSize)
        var uniqueFloats = 0
        let idMask = UInt64(1) << idBits - 1
        let featureMask = UInt64(1) << (ownerShift - idBits) - 1
        for i in 0..<uniqueCount {
            let key = sortKeys[i]
            let owner = Int(key >> ownerShift)
            let feature = Int((key >> idBits) & featureMask)
            requestedKeys[i] = Self.key(feature: feature, id: Int(key & idMask))
            offsetOfUnique[Int(sortIndices[i])] = Int32(uniqueFloats)
            uniqueFloats += widths[feature]
            keysPerOwner[owner] += 1
            floatsPerOwner[owner] += widths[feature]
        }
        precondition(uniqueFloats < Int(Int32.max), "a batch of \(uniqueFloats) unique floats exceeds 32-bit offsets")
        let servedKeysPerSource = try communicator.allToAll(keysPerOwner.map { Int64($0) }).map { Int($0) }
        let servedCount = servedKeysPerSource.reduce(0, +)
        let servedKeys = buffers.servedKeys.reserve(servedCount)
        try communicator.allToAllV(UnsafeRawBufferPointer(start: requestedKeys, count: uniqueCount * 8),
                                   sendCounts: keysPerOwner.map { $0 * 8 },
                                   into: UnsafeMutableRawBufferPointer(start: servedKeys, count: servedCount * 8),
                                   receiveCounts: servedKeysPerSource.map { $0 * 8 })

        // Lookup: copy the requested rows and send them back.
        let servedRowsOut = buffers.servedRows.reserve(servedCount * (widths.max() ?? 0))
        var servedFloatsPerSource = [Int](repeating: 0, count: worldSize)
        var servedFloats = 0
        var keyIndex = 0
        for source in 0..<worldSize {
            let end = keyIndex + servedKeysPerSource[source]
            let sourceStart = servedFloats
            forEachFeatureRun(servedKeys, from: keyIndex, to: end, source: source) { feature, run in
                let dimension = widths[feature]
                shards[feature].weights.withUnsafeBufferPointer { weights in
                    for key in run {
                        let local = plan.localIndex(of: Self.id(of: key))
                        copyElements(weights.baseAddress! + local * dimension, into: servedRowsOut + servedFloats,
                                     count: dimension)
                        servedFloats += dimension
                    }
                }
            }
            servedFloatsPerSource[source] = servedFloats - sourceStart
            keyIndex = end
        }
        let uniqueRows = buffers.uniqueRows.reserve(uniqueFloats)
        try communicator.allToAllV(UnsafeRawBufferPointer(start: servedRowsOut, count: servedFloats * 4),
                                   sendCounts: servedFloatsPerSource.map { $0 * 4 },
                                   into: UnsafeMutableRawBufferPointer(start: uniqueRows, count: uniqueFloats * 4),
                                   receiveCounts: floatsPerOwner.map { $0 * 4 })

        // Assemble: the received rows, in owner order, are the unique rows; copy each to every
        // batch position using it. Every element of the output is written once, so the rows
        // split over threads.
        let positionOffsets = buffers.positionOffsets.reserve(positions)
        let width = layout.totalWidth
        let columns = layout.offsets
        let output = [Float](unsafeUninitializedCapacity: rowCount * width) { destination, initialized in
            ComputeThreads.forEachChunk(count: rowCount, minimumChunk: 256, alignment: 1) { rows in
                for row in rows {
                    for feature in 0..<featureCount {
                        let position = row * featureCount + feature
                        let offset = offsetOfUnique[Int(uniqueOfPosition[position])]
                        positionOffsets[position] = offset
                        copyElements(uniqueRows + Int(offset), into: destination.baseAddress! + row * width + columns[feature],
                                     count: widths[feature])
                    }
                }
            }
            initialized = rowCount * width
        }
        buffers.uniqueGradients.reserve(uniqueFloats).update(repeating: 0, count: uniqueFloats)
        pending = PendingStep(positions: positions, uniqueFloats: uniqueFloats, floatsPerOwner: floatsPerOwner,
                              servedKeysPerSource: servedKeysPerSource, servedFloatsPerSource: servedFloatsPerSource)
        lookupExchangeSeconds += DispatchClock.seconds(since: start)
        return Tensor(shape: [rowCount, width], scalars: output)
    }

    /// Calls `body` with each run of keys of one feature in `keys[start..<end]`, which `source`
    /// sent. A source sends its keys sorted by feature, so there is one run per feature.
    private func forEachFeatureRun(_ keys: UnsafeMutablePointer<Int64>, from start: Int, to end: Int, source: Int,
                                   _ body: (Int, UnsafeBufferPointer<Int64>) -> Void) {
        var runStart = start
        while runStart < end {
            let feature = Self.feature(of: keys[runStart])
            var runEnd = runStart + 1
            while runEnd < end && Self.feature(of: keys[runEnd]) == feature {
                runEnd += 1
            }
            let run = UnsafeBufferPointer(start: keys + runStart, count: runEnd - runStart)
            precondition(feature >= 0 && feature < shards.count, "rank \(source) requested a row of feature \(feature)")
            let rows = tableRows[feature]
            precondition(run.allSatisfy { Self.id(of: $0) < rows && plan.owner(of: Self.id(of: $0)) == communicator.rank },
                         "rank \(source) requested a row of \(layout.names[feature]) that rank \(communicator.rank) does not hold")
            body(feature, run)
            runStart = runEnd
        }
    }

    public func accumulateGradient(ids: [Int32], rowCount: Int, inputGradient: Tensor) {
        let featureCount = layout.names.count
        guard let pending, pending.positions == rowCount * featureCount else {
            preconditionFailure("accumulateGradient needs the batch of the last lookup")
        }
        precondition(inputGradient.scalars.count == rowCount * layout.totalWidth,
                     "input gradient has \(inputGradient.scalars.count) floats, expected \(rowCount) × \(layout.totalWidth)")
        let width = layout.totalWidth
        let widths = layout.widths
        let columns = layout.offsets
        let offsets = buffers.positionOffsets.base
        let target = buffers.uniqueGradients.base
        inputGradient.scalars.withUnsafeBufferPointer { gradient in
            // Scatter: features own disjoint unique rows, so threads split the features and
            // each row still sums its positions in row order.
            let threads = rowCount * featureCount >= 16_384 ? min(ComputeThreads.count, featureCount) : 1
            ComputeThreads.forEachChunk(count: threads, minimumChunk: 1, alignment: 1) { chunk in
                for thread in chunk {
                    for row in 0..<rowCount {
                        for feature in stride(from: thread, to: featureCount, by: threads) {
                            addElements(gradient.baseAddress! + row * width + columns[feature],
                                        into: target + Int(offsets[row * featureCount + feature]), count: widths[feature])
                        }
                    }
                }
            }
        }
    }

    public func applyUpdate() throws {
        let start = DispatchClock.now()
        guard let pending else {
            preconditionFailure("applyUpdate needs the lookup of the same step first")
        }
        let widths = layout.widths

        // Gradient dist: each owner receives, per source, the gradients of the keys it served,
        // in the runs the rows went out in.
        let servedFloats = pending.servedFloatsPerSource.reduce(0, +)
        let incoming = buffers.servedRows.reserve(servedFloats)
        try communicator.allToAllV(UnsafeRawBufferPointer(start: buffers.uniqueGradients.base, count: pending.uniqueFloats * 4),
                                   sendCounts: pending.floatsPerOwner.map { $0 * 4 },
                                   into: UnsafeMutableRawBufferPointer(start: incoming, count: servedFloats * 4),
                                   receiveCounts: pending.servedFloatsPerSource.map { $0 * 4 })

        // Sum per row in rank order, so the result does not depend on arrival order.
        let servedCount = pending.servedKeysPerSource.reduce(0, +)
        let servedKeys = buffers.servedKeys.base
        let sums = buffers.rowSums.reserve(servedFloats)
        let updateFeatures = buffers.updateFeatures.reserve(servedCount)
        let updateRows = buffers.updateRows.reserve(servedCount)
        let updateOffsets = buffers.updateOffsets.reserve(servedCount)
        servedRows.removeAll(capacity: servedCount)
        var incomingOffset = 0
        var sumFloats = 0
        for keyIndex in 0..<servedCount {
            let key = servedKeys[keyIndex]
            let feature = Self.feature(of: key)
            let local = plan.localIndex(of: Self.id(of: key))
            let dimension = widths[feature]
            let known = servedRows.count
            let index = servedRows.insert(feature: feature, row: local)
            if index == known {
                updateFeatures[index] = Int32(feature)
                updateRows[index] = local
                updateOffsets[index] = sumFloats
                copyElements(incoming + incomingOffset, into: sums + sumFloats, count: dimension)
                sumFloats += dimension
            } else {
                addElements(incoming + incomingOffset, into: sums + updateOffsets[index], count: dimension)
            }
            incomingOffset += dimension
        }
        let scale = 1 / Float(plan.worldSize)
        for i in 0..<sumFloats {
            sums[i] *= scale
        }

        // Update each table's rows in one call per run of one feature. The rows of one source
        // come sorted by feature, so there are at most W runs per feature.
        optimizer.beginStep()
        let rowCount = servedRows.count
        var runStart = 0
        while runStart < rowCount {
            let feature = Int(updateFeatures[runStart])
            var runEnd = runStart + 1
            while runEnd < rowCount && Int(updateFeatures[runEnd]) == feature {
                runEnd += 1
            }
            let shard = shards[feature]
            shard.weights.withUnsafeMutableBufferPointer { weights in
                shard.optimizerState.withUnsafeMutableBufferPointer { state in
                    optimizer.updateRows(weights: weights.baseAddress!, state: state.baseAddress!,
                                         rows: UnsafeBufferPointer(start: updateRows + runStart, count: runEnd - runStart),
                                         gradients: sums + updateOffsets[runStart], dimension: shard.dimension)
                }
            }
            runStart = runEnd
        }
        discardGradient()
        gradientExchangeSeconds += DispatchClock.seconds(since: start)
    }

    public func discardGradient() {
        pending = nil
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
