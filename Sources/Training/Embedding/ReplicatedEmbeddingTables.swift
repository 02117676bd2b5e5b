import Models
import TensorCore

/// One embedding table `[R, D]` held whole by every rank, with its sparse optimizer state and
/// the gradient of the current step.
public final class EmbeddingTable {
    public let name: String
    public let rowCount: Int
    public let dimension: Int
    /// Rows in order, `[R·D]`.
    public var weights: [Float]
    /// Sparse optimizer state, `[R·stateWidth]`.
    public var optimizerState: [Float]
    public let stateWidth: Int
    /// This step's gradient, `[R·D]`, summed over the rows of the batch.
    public var gradient: [Float]
    /// How many batch rows used each table row this step, `[R]`. Kept as Float so the counts
    /// travel in the same allreduce as the gradients; any positive value marks a touched row.
    public var touchCounts: [Float]

    init(name: String, feature: Int, rowCount: Int, dimension: Int, stateWidth: Int, initialState: Float, seed: UInt64) {
        self.name = name
        self.rowCount = rowCount
        self.dimension = dimension
        self.stateWidth = stateWidth
        var weights = [Float](repeating: 0, count: rowCount * dimension)
        weights.withUnsafeMutableBufferPointer { buffer in
            for row in 0..<rowCount {
                initializeEmbeddingRow(row, feature: feature, seed: seed, into: buffer.baseAddress! + row * dimension,
                                       dimension: dimension)
            }
        }
        self.weights = weights
        optimizerState = [Float](repeating: initialState, count: rowCount * stateWidth)
        gradient = [Float](repeating: 0, count: rowCount * dimension)
        touchCounts = [Float](repeating: 0, count: rowCount)
    }

    var parameterCount: Int { rowCount * dimension }
}

/// Every table held whole by every rank: the gradient buffers (`[R·D]` and touch counts `[R]`
/// per table) are averaged across ranks with the dense gradients, and every rank then applies
/// the same sparse update to the rows that any rank touched, so the replicas stay identical.
/// The baseline that row sharding is checked against, and the simpler layout for small tables.
public final class ReplicatedEmbeddingTables: EmbeddingStore {
    public let tables: [EmbeddingTable]
    public let layout: FeatureLayout
    let optimizer: SparseRowOptimizer

    /// Creates one table per feature with `rowCounts[f]` rows, each row initialized by
    /// `initializeEmbeddingRow`; the optimizer state starts at `initialState`.
    public init(layout: FeatureLayout, rowCounts: [Int], optimizer: SparseRowOptimizer, initialState: Float,
                seed: UInt64) {
        precondition(rowCounts.count == layout.names.count,
                     "\(rowCounts.count) table sizes for \(layout.names.count) features")
        self.layout = layout
        self.optimizer = optimizer
        tables = layout.names.enumerated().map { feature, name in
            let dimension = layout.widths[feature]
            return EmbeddingTable(name: name, feature: feature, rowCount: rowCounts[feature], dimension: dimension,
                                  stateWidth: optimizer.stateWidth(dimension: dimension), initialState: initialState,
                                  seed: seed)
        }
    }

    public var tableRows: [Int] { tables.map(\.rowCount) }
    public var parameterCount: Int { tables.reduce(0) { $0 + $1.parameterCount } }
    public var allreducedTables: [EmbeddingTable] { tables }

    public func lookup(ids: [Int32], rowCount: Int) throws -> Tensor {
        let featureCount = tables.count
        precondition(ids.count == rowCount * featureCount, "\(ids.count) ids for \(rowCount) rows of \(featureCount) features")
        let width = layout.totalWidth
        var output = [Float](repeating: 0, count: rowCount * width)
        output.withUnsafeMutableBufferPointer { destination in
            for (feature, table) in tables.enumerated() {
                let dimension = table.dimension
                let offset = layout.offsets[feature]
                table.weights.withUnsafeBufferPointer { weights in
                    for row in 0..<rowCount {
                        let id = Int(ids[row * featureCount + feature])
                        precondition(id >= 0 && id < table.rowCount,
                                     "id \(id) out of range for table \(table.name) of \(table.rowCount) rows")
                        (destination.baseAddress! + row * width + offset)
                            .update(from: weights.baseAddress! + id * dimension, count: dimension)
                    }
                }
            }
        }
        return Tensor(shape: [rowCount, width], scalars: output)
    }

    public func accumulateGradient(ids: [Int32], rowCount: Int, inputGradient: Tensor) {
        let featureCount = tables.count
        let width = layout.totalWidth
        inputGradient.scalars.withUnsafeBufferPointer { gradient in
            for (feature, table) in tables.enumerated() {
                let dimension = table.dimension
                let offset = layout.offsets[feature]
                table.gradient.withUnsafeMutableBufferPointer { target in
                    for row in 0..<rowCount {
                        let id = Int(ids[row * featureCount + feature])
                        let source = gradient.baseAddress! + row * width + offset
                        let destination = target.baseAddress! + id * dimension
                        for k in 0..<dimension { destination[k] += source[k] }
                        table.touchCounts[id] += 1
                    }
                }
            }
        }
    }

    public func applyUpdate() throws {
        optimizer.beginStep()
        for table in tables {
            let dimension = table.dimension
            let stateWidth = table.stateWidth
            table.weights.withUnsafeMutableBufferPointer { weights in
                table.optimizerState.withUnsafeMutableBufferPointer { state in
                    table.gradient.withUnsafeBufferPointer { gradient in
                        for row in 0..<table.rowCount where table.touchCounts[row] > 0 {
                            optimizer.updateRow(weights: weights.baseAddress! + row * dimension,
                                                state: state.baseAddress! + row * stateWidth,
                                                gradient: gradient.baseAddress! + row * dimension,
                                                dimension: dimension)
                        }
                    }
                }
            }
            table.gradient.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            table.touchCounts.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
    }

    public func discardGradient() {
        for table in tables {
            table.gradient.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            table.touchCounts.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
    }

    public var rowPlacement: EmbeddingRowPlacement { .replicated }
    public var sparseOptimizer: SparseRowOptimizer { optimizer }

    public func withLocalRows<Result>(_ feature: Int,
                                      _ body: (inout [Float], inout [Float]) throws -> Result) rethrows -> Result {
        let table = tables[feature]
        let counts = (table.weights.count, table.optimizerState.count)
        defer {
            precondition((table.weights.count, table.optimizerState.count) == counts,
                         "the rows of \(table.name) changed size from \(counts)")
        }
        return try body(&table.weights, &table.optimizerState)
    }

    public func gatherTable(_ feature: Int, root: Int) throws -> [Float]? {
        tables[feature].weights
    }
}
