import TensorCore

/// The flat buffer that carries one step's gradients through the ring allreduce.
///
/// Layout, in this order: every dense parameter's gradient (in `RankingModel.parameters` order),
/// every embedding table's row gradients `[R·D]`, every table's touch counts `[R]`, then the T
/// per-task loss sums of the step. Sending the loss sums with the gradients gives every rank the
/// global loss of each step without a second collective.
struct GradientPacking {
    let parameters: [Parameter]
    let tables: [EmbeddingTable]
    let taskCount: Int
    let count: Int

    init(parameters: [Parameter], tables: [EmbeddingTable], taskCount: Int) {
        self.parameters = parameters
        self.tables = tables
        self.taskCount = taskCount
        count = parameters.reduce(0) { $0 + $1.value.count }
            + tables.reduce(0) { $0 + $1.gradient.count + $1.touchCounts.count } + taskCount
    }

    /// Copies the gradients and `lossSums` `[T]` into `buffer` `[count]`.
    func pack(into buffer: inout [Float], lossSums: [Float]) {
        precondition(buffer.count == count && lossSums.count == taskCount, "gradient buffer layout mismatch")
        buffer.withUnsafeMutableBufferPointer { target in
            var offset = 0
            func copy(_ source: [Float]) {
                source.withUnsafeBufferPointer { source in
                    (target.baseAddress! + offset).update(from: source.baseAddress!, count: source.count)
                }
                offset += source.count
            }
            for parameter in parameters { copy(parameter.gradient.scalars) }
            for table in tables { copy(table.gradient) }
            for table in tables { copy(table.touchCounts) }
            copy(lossSums)
        }
    }

    /// Copies the reduced gradients back and returns the reduced loss sums `[T]`.
    func unpack(from buffer: [Float]) -> [Float] {
        precondition(buffer.count == count, "gradient buffer layout mismatch")
        var offset = 0
        func take(_ length: Int) -> ArraySlice<Float> {
            defer { offset += length }
            return buffer[offset..<(offset + length)]
        }
        for parameter in parameters {
            parameter.gradient.scalars.replaceSubrange(0..<parameter.gradient.count, with: take(parameter.gradient.count))
        }
        for table in tables {
            table.gradient.replaceSubrange(0..<table.gradient.count, with: take(table.gradient.count))
        }
        for table in tables {
            table.touchCounts.replaceSubrange(0..<table.touchCounts.count, with: take(table.touchCounts.count))
        }
        return Array(take(taskCount))
    }
}
