import Foundation
import TensorCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The flat buffer that carries one step's gradients through the ring allreduce.
///
/// Layout, in this order: every dense parameter's gradient (in `RankingModel.parameters` order),
/// every embedding table's row gradients `[R·D]`, every table's touch counts `[R]`, the T
/// per-task loss sums of the step, then the `StepFlags` of the rank. Sending the loss sums and
/// the flags with the gradients gives every rank the global loss of each step, and the same
/// decision to skip a batch or stop, without a second collective.
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
            + tables.reduce(0) { $0 + $1.gradient.count + $1.touchCounts.count } + taskCount + StepFlags.count
    }

    /// Copies the gradients, `lossSums` `[T]` and `flags` into `buffer` `[count]`.
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
            for parameter in parameters { copy(parameter.gradient.scalars) }
            for table in tables { copy(table.gradient) }
            for table in tables { copy(table.touchCounts) }
            copy(lossSums)
            copy(flags.values)
        }
    }

    /// Copies the reduced gradients back and returns the reduced loss sums `[T]` and flags.
    func unpack(from buffer: [Float]) -> (lossSums: [Float], flags: StepFlags) {
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
