/// The per-step memory of `RowShardedEmbeddingTables`, kept from step to step.
///
/// Shapes, with U the unique rows of this rank's batch, U·D their floats (D varies by feature),
/// and m the rows other ranks requested from this rank:
final class ExchangeBuffers {
    /// `[B·F]`: the unique-row index of each batch position.
    let uniqueOfPosition = ScratchBuffer<Int32>()
    /// `[B·F]`: where each batch position's row starts in `uniqueRows` and `uniqueGradients`.
    let positionOffsets = ScratchBuffer<Int32>()
    /// `[U]`: the sort key of each unique row (owner, feature, id) and its unique-row index.
    let sortKeys = ScratchBuffer<UInt64>()
    let sortIndices = ScratchBuffer<Int32>()
    let sortScratchKeys = ScratchBuffer<UInt64>()
    let sortScratchIndices = ScratchBuffer<Int32>()
    /// `[U]`: where each unique row starts in `uniqueRows`, by unique-row index.
    let offsetOfUnique = ScratchBuffer<Int32>()
    /// `[U]`: keys `(feature << 40) | id` sent to the owners, owner 0's first, each owner's sorted.
    let requestedKeys = ScratchBuffer<Int64>()
    /// `[U·D]`: the rows received from the owners, in the order of `requestedKeys`.
    let uniqueRows = ScratchBuffer<Float>()
    /// `[U·D]`: the summed gradient of each unique row, in the order of `requestedKeys`.
    let uniqueGradients = ScratchBuffer<Float>()

    /// `[m]`: keys other ranks requested from this rank, source 0's first.
    let servedKeys = ScratchBuffer<Int64>()
    /// `[m·D]`: the rows sent back, then (reused) the gradients received, both in key order.
    let servedRows = ScratchBuffer<Float>()
    /// `[m·D]` at most: the gradient of each distinct served row, summed in source order.
    let rowSums = ScratchBuffer<Float>()
    /// `[m]` at most: feature, local row and `rowSums` offset of each distinct served row.
    let updateFeatures = ScratchBuffer<Int32>()
    let updateRows = ScratchBuffer<Int>()
    let updateOffsets = ScratchBuffer<Int>()
}
