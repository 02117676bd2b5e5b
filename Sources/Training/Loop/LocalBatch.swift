import DataPipeline

/// One rank's rows of a step, gathered from the training split in the order of the epoch plan.
struct LocalBatch {
    /// `[B, F]` embedding-table rows of each feature.
    let ids: [Int32]
    /// `[B, T]` labels of the model's T tasks, the first T of the data's tasks.
    let labels: [Float]
    /// `[B]` scene index of each row.
    let scenes: [Int32]
    /// `[B]` dropout seed of each row, from the run seed, the step and the row's place in the
    /// global batch, so a row's dropout mask does not depend on the world size.
    let rowSeeds: [UInt64]

    var rowCount: Int { scenes.count }

    /// Gathers the rows at `positions` of `permutation` from `split`.
    /// - Parameters:
    ///   - globalStart: the position of the global batch's first row, from which row seeds count.
    ///   - taskCount: T, at most the split's task count.
    init(split: PreparedSplit, permutation: [Int], positions: Range<Int>, globalStart: Int, taskCount: Int,
         seed: UInt64, globalStep: Int) {
        precondition(taskCount <= split.taskCount, "the model predicts \(taskCount) tasks, the data has \(split.taskCount)")
        precondition(positions.lowerBound >= globalStart && positions.upperBound <= permutation.count,
                     "rows \(positions) are outside the plan of \(permutation.count) rows starting at \(globalStart)")
        let rowCount = positions.count
        let featureCount = split.featureCount
        let dataTaskCount = split.taskCount
        let sources = permutation[positions]
        for source in sources {
            precondition(source >= 0 && source < split.count, "row \(source) is outside the split of \(split.count) rows")
        }

        // Each row's features and labels are contiguous in the split, so a row is one copy.
        ids = gatherRows(split.features, rowWidth: featureCount, sources: sources, width: featureCount)
        labels = gatherRows(split.labels, rowWidth: dataTaskCount, sources: sources, width: taskCount)
        scenes = sources.map { split.scenes[$0] }

        let stepMixer = SeedMixer().mixing(seed).mixing(0x44524F50).mixing(UInt64(globalStep))
        rowSeeds = positions.map { stepMixer.mixing(UInt64($0 - globalStart)).seed }
    }
}

/// Returns `[sources.count, width]`: the first `width` elements of each row `sources[i]` of
/// `table` `[N, rowWidth]`.
private func gatherRows<Element>(_ table: UnsafeBufferPointer<Element>, rowWidth: Int, sources: ArraySlice<Int>,
                                 width: Int) -> [Element] {
    let count = sources.count * width
    return [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
        if let target = buffer.baseAddress, let base = table.baseAddress {
            for (row, source) in sources.enumerated() {
                (target + row * width).initialize(from: base + source * rowWidth, count: width)
            }
        }
        initialized = count
    }
}
