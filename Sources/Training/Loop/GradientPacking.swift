import Foundation
import TensorCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The flat buffer of the step's final allreduce, sent after the dense buckets once backward and
/// the embedding gradient are done.
///
/// Layout, in this order: every embedding table's row gradients `[R·D]` (replicated layout
/// only), every table's touch counts `[R]`, the T per-task loss sums of the step, then the
/// `StepFlags` of the rank. Sending the loss sums and the flags with the gradients gives every
/// rank the global loss of each step, and the same decision to skip a batch or stop, without a
/// separate collective. The dense gradients travel in `GradientBucketBuffers`.
struct GradientPacking {
    let tables: [EmbeddingTable]
    let taskCount: Int
    let count: Int

    init(tables: [EmbeddingTable], taskCount: Int) {
        self.tables = tables
        self.taskCount = taskCount
        count = tables.reduce(0) { $0 + $1.gradient.count + $1.touchCounts.count } + taskCount + StepFlags.count
    }

    /// Copies the table gradients, `lossSums` `[T]` and `flags` into `buffer` `[count]`.
    func pack(into buffer: inout [Float], lossSums: [Float], flags: StepFlags) {
        precondition(buffer.count == count && lossSums.count == taskCount, "gradient buffer layout mismatch")
        buffer.withUnsafeMutableBufferPointer { target in
            var offset = 0
            func copy(_ source: [Float]) {
                source.withUnsafeBufferPointer { source in
                    (target.baseAddress! + offset).update(from: source.baseAddress!, count: source.count)
                }
                offset += source.count
            }
            for table in tables { copy(table.gradient) }
            for table in tables { copy(table.touchCounts) }
            copy(lossSums)
            copy(flags.values)
        }
    }

    /// Copies the reduced table gradients back and returns the reduced loss sums `[T]` and flags.
    func unpack(from buffer: [Float]) -> (lossSums: [Float], flags: StepFlags) {
        precondition(buffer.count == count, "gradient buffer layout mismatch")
        var offset = 0
        func take(_ length: Int) -> ArraySlice<Float> {
            defer { offset += length }
            return buffer[offset..<(offset + length)]
        }
        for table in tables {
            table.gradient.replaceSubrange(0..<table.gradient.count, with: take(table.gradient.count))
        }
        for table in tables {
            table.touchCounts.replaceSubrange(0..<table.touchCounts.count, with: take(table.touchCounts.count))
        }
        let lossSums = Array(take(taskCount))
        return (lossSums, StepFlags(values: Array(take(StepFlags.count))))
    }
}

/// The flags a rank reports at the end of each step besides its gradients: whether it found a
/// non-finite loss or gradient, and whether it received SIGTERM or SIGINT. Each flag is 0 or 1
/// on a rank, so after the averaging allreduce a flag is positive when any rank set it.
struct StepFlags {
    static let count = 3
    var values: [Float]

    init(values: [Float]) {
        precondition(values.count == Self.count, "expected \(Self.count) step flags, got \(values.count)")
        self.values = values
    }

    init(nonFinite: Bool, signal: Int32) {
        values = [nonFinite ? 1 : 0, signal == SIGTERM ? 1 : 0, signal == SIGINT ? 1 : 0]
    }

    var anyNonFinite: Bool { values[0] > 0 }

    /// The signal some rank received: SIGTERM when any rank got it, else SIGINT, else nil.
    var stopSignal: Int32? {
        if values[1] > 0 { return SIGTERM }
        if values[2] > 0 { return SIGINT }
        return nil
    }
}
