import Models
import TensorCore

/// One embedding table `[R, D]` with its sparse optimizer state and the gradient of the current step.
///
/// Every rank holds a full replica of each table; the gradient buffers are averaged across ranks
/// with the dense gradients, and every rank then applies the same sparse update to the rows that
/// any rank touched, so the replicas stay identical.
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

    init(name: String, rowCount: Int, dimension: Int, stateWidth: Int, initialAccumulator: Float,
         generator: inout RandomGenerator) {
        self.name = name
        self.rowCount = rowCount
        self.dimension = dimension
        self.stateWidth = stateWidth
        weights = Initializer.uniform(low: -0.05, high: 0.05)
            .makeTensor(shape: [rowCount * dimension], generator: &generator).scalars
        optimizerState = [Float](repeating: initialAccumulator, count: rowCount * stateWidth)
        gradient = [Float](repeating: 0, count: rowCount * dimension)
        touchCounts = [Float](repeating: 0, count: rowCount)
    }

    var parameterCount: Int { rowCount * dimension }
    var bytes: Int { (weights.count + optimizerState.count) * MemoryLayout<Float>.size }
}

/// The embedding tables of all features, one per feature, looked up into the model input `[B, F·D]`.
public final class EmbeddingTables {
    public let tables: [EmbeddingTable]
    public let layout: FeatureLayout
    let optimizer: SparseRowOptimizer

    /// Creates one table per feature with `rowCounts[f]` rows, initialized U(-0.05, 0.05) from `seed`.
    public init(layout: FeatureLayout, rowCounts: [Int], optimizer: SparseRowOptimizer, initialAccumulator: Float,
                seed: UInt64) {
        precondition(rowCounts.count == layout.names.count,
                     "\(rowCounts.count) table sizes for \(layout.names.count) features")
        self.layout = layout
        self.optimizer = optimizer
        var made: [EmbeddingTable] = []
        for (feature, name) in layout.names.enumerated() {
            var generator = RandomGenerator(seed: mixSeed(seed, 0x454D42, UInt64(feature)))
            let dimension = layout.widths[feature]
            made.append(EmbeddingTable(name: name, rowCount: rowCounts[feature], dimension: dimension,
                                       stateWidth: optimizer.stateWidth(dimension: dimension),
                                       initialAccumulator: initialAccumulator, generator: &generator))
        }
        tables = made
    }

    public var parameterCount: Int { tables.reduce(0) { $0 + $1.parameterCount } }

    /// Gathers the rows of a batch into the model input.
    /// - Parameters:
    ///   - ids: `[B, F]` row ids, feature-major within a row, as `rowIDs(row)` returns them.
    /// - Returns: `[B, F·D]`.
    public func lookup(ids: [Int32], rowCount: Int) -> Tensor {
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
                        let source = weights.baseAddress! + id * dimension
                        let target = destination.baseAddress! + row * width + offset
                        target.update(from: source, count: dimension)
                    }
                }
            }
        }
        return Tensor(shape: [rowCount, width], scalars: output)
    }

    /// Adds the gradient of the model input `[B, F·D]` into each table's row gradients.
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

    /// Applies the sparse optimizer to every row touched on any rank, then clears the gradients.
    /// Call after the gradients and touch counts have been averaged across ranks.
    public func applyUpdate() {
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
}
