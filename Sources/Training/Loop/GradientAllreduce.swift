import Communication
import TensorCore

/// Averages one step's gradients over the ranks: the dense buckets of `GradientBucketPlan`, then
/// the final bucket of `GradientPacking` (table gradients, loss sums, step flags).
///
/// Two schedules share the buckets and the ring, so they give bit-identical results:
/// - overlapped: each dense bucket goes to an `AllreduceWorker` thread as soon as backward has
///   finished all of its gradients, and the ring runs while backward continues;
/// - sequential: every bucket is packed and reduced on the calling thread after backward.
///
/// The ring's order of additions for an element depends on where its bucket starts, so both
/// schedules must cut the gradients at the same places. That is why the sequential schedule also
/// sends reverse-order buckets rather than one buffer in `RankingModel.parameters` order.
///
/// With one rank the average is the gradient itself, so the dense buckets are neither packed
/// nor reduced, and the gradients stay where backward wrote them.
///
/// Thread rule, from `AllreduceWorker`: between the first dense bucket released in a step
/// (`parameterReady(_:)` or `finishDense()`) and the end of `reduce(lossSums:flags:)`, the
/// calling thread must not use the communicator. The trainer keeps to it because backward, the
/// non-finite scan and `EmbeddingStore.accumulateGradient` are local, and the collectives of
/// the step come before forward or after this allreduce.
final class GradientAllreduce {
    let buckets: GradientBucketBuffers
    let packing: GradientPacking
    /// The worker of the overlapped schedule; nil for the sequential one.
    let worker: AllreduceWorker?
    /// The ring of the calling thread: every bucket in the sequential schedule, and the final
    /// bucket in both.
    let ring: RingAllreduce
    /// Whether the dense gradients go through the buckets: false for a world of one rank.
    let packsDense: Bool
    private var readiness: BucketReadiness
    private var finalBuffer: [Float]
    private let parameterIndices: [ObjectIdentifier: Int]

    init(parameters: [Parameter], tables: [EmbeddingTable], taskCount: Int, communicator: Communicator,
         bucketBytes: Int, overlap: Bool) {
        let plan = GradientBucketPlan(parameterCounts: parameters.map(\.value.count),
                                      bucketElements: bucketBytes / MemoryLayout<Float>.size)
        buckets = GradientBucketBuffers(parameters: parameters, plan: plan)
        packing = GradientPacking(tables: tables, taskCount: taskCount)
        ring = RingAllreduce(communicator: communicator, bucketBytes: bucketBytes)
        worker = overlap ? AllreduceWorker(communicator: communicator, bucketBytes: bucketBytes) : nil
        packsDense = communicator.worldSize > 1
        readiness = BucketReadiness(plan: plan)
        finalBuffer = [Float](repeating: 0, count: packing.count)
        var parameterIndices: [ObjectIdentifier: Int] = [:]
        for (index, parameter) in parameters.enumerated() {
            parameterIndices[ObjectIdentifier(parameter)] = index
        }
        self.parameterIndices = parameterIndices
    }

    /// Seconds the worker thread spent reducing dense buckets, over all steps; 0 when sequential.
    var workerBusySeconds: Double { worker?.busySeconds ?? 0 }

    /// Starts a step: no dense gradient is final yet.
    func beginStep() {
        precondition(readiness.releasedCount == 0 || readiness.isComplete,
                     "a step began before the last one's allreduce finished")
        readiness.reset()
    }

    /// Records that backward will add nothing more to `parameter`'s gradient, and packs every
    /// bucket this completes; the overlapped schedule also sends them. Parameters outside the
    /// model's list are ignored.
    func parameterReady(_ parameter: Parameter) {
        guard let index = parameterIndices[ObjectIdentifier(parameter)] else { return }
        send(readiness.markReady(index))
    }

    /// Marks the rest of the dense gradients final: those of parameters this step's graph never
    /// read, and all of them on a rank without rows.
    func finishDense() {
        send(readiness.markAllReady())
    }

    /// Finishes the dense buckets, reduces the final bucket with `lossSums` `[T]` and `flags`,
    /// and copies the averages back into the parameters' and tables' gradients. Call after
    /// `finishDense()` and after the table gradients are accumulated. Returns the averaged loss
    /// sums and flags.
    func reduce(lossSums: [Float], flags: StepFlags) throws -> (lossSums: [Float], flags: StepFlags) {
        precondition(readiness.isComplete, "reduce before every dense gradient was marked ready")
        if let worker {
            try worker.waitUntilIdle()
        } else if packsDense {
            for bucket in buckets.plan.buckets.indices {
                try ring.allreduce(buckets.buffer(bucket), average: true)
            }
        }
        if packsDense {
            for bucket in buckets.plan.buckets.indices {
                buckets.unpack(bucket)
            }
        }

        packing.pack(into: &finalBuffer, lossSums: lossSums, flags: flags)
        try finalBuffer.withUnsafeMutableBufferPointer { buffer in
            try ring.allreduce(buffer, average: true)
        }
        return packing.unpack(from: finalBuffer)
    }

    /// Returns whether the gradient of the parameter at `index` of the model's list is all
    /// finite. After `finishDense()` the result comes from the packing, without reading the
    /// gradient again, unless the world has one rank.
    func gradientIsFinite(parameterIndex index: Int) -> Bool {
        guard packsDense else {
            return buckets.parameters[index].gradient.scalars.withUnsafeBufferPointer { allFinite($0) }
        }
        precondition(readiness.isComplete, "the packed gradients are read before every bucket was packed")
        return buckets.packedGradientIsFinite[index]
    }

    /// Packs the released buckets while their gradients are still in cache from backward. The
    /// overlapped schedule also submits them, and the sequential one reduces them in `reduce`.
    private func send(_ released: Range<Int>) {
        guard packsDense else { return }
        for bucket in released {
            buckets.pack(bucket)
            worker?.submit(buckets.buffer(bucket), average: true)
        }
    }
}
