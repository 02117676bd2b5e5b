import Communication
import DataPipeline
import Foundation
import Models
import TensorCore

extension Trainer {
    /// Scores every row of the test split exactly once: the split is cut into chunks of
    /// `evalBatchSize` rows, rank r scores the r-th contiguous run of whole chunks (runs differ
    /// by at most one chunk, and may be empty), and rank 0 gathers the scores in row order.
    /// Every forward pass sees the same rows on any world size, so the scores, and the metrics
    /// computed from them, do not depend on it. Returns the probabilities `[N, T]` on rank 0
    /// and nil on the other ranks. The model's buffers (running statistics) are averaged over
    /// ranks for the scoring.
    public func predictTestSplit() throws -> [Float]? {
        try withAveragedBuffers { try predictWithCurrentBuffers() }
    }

    private func predictWithCurrentBuffers() throws -> [Float]? {
        let split = dataset.test
        let taskCount = model.taskCount
        let featureCount = layout.names.count
        let chunkRows = config.train.evalBatchSize
        let totalChunks = (split.count + chunkRows - 1) / chunkRows
        func shareOf(_ rank: Int) -> Range<Int> {
            let chunks = shardRange(count: totalChunks, parts: communicator.worldSize, index: rank)
            return min(chunks.lowerBound * chunkRows, split.count)..<min(chunks.upperBound * chunkRows, split.count)
        }
        let share = shareOf(communicator.rank)
        var scores = [Float](repeating: 0, count: share.count * taskCount)

        // Rank 0's run of chunks is the longest; every rank runs as many chunks as rank 0
        // because the lookups of sharded tables are collective.
        let chunkCount = shardRange(count: totalChunks, parts: communicator.worldSize, index: 0).count
        for chunk in 0..<chunkCount {
            let start = min(share.lowerBound + chunk * chunkRows, share.upperBound)
            let end = min(start + chunkRows, share.upperBound)
            let rowCount = end - start
            var ids = [Int32](repeating: 0, count: rowCount * featureCount)
            for i in 0..<(rowCount * featureCount) {
                ids[i] = split.features[start * featureCount + i]
            }
            let rows = try embeddings.lookup(ids: ids, rowCount: rowCount)
            guard rowCount > 0 else { continue }
            let scenes = (start..<end).map { split.scenes[$0] }
            let graph = Graph(training: false)
            let input = graph.constant(rows)
            let logits = model.forward(embeddings: input,
                                       batch: BatchContext(scenes: scenes, rowSeeds: Array(repeating: 0, count: rowCount)))
            let offset = (start - share.lowerBound) * taskCount
            for (i, logit) in logits.value.scalars.enumerated() {
                scores[offset + i] = 1 / (1 + exp(-logit))
            }
        }

        let gathered = try communicator.gather(scores, toRoot: 0)
        return communicator.rank == 0 ? gathered.flatMap { $0 } : nil
    }
}
