import TensorCore

/// The assignment of dense parameters to allreduce buckets, the same on every rank.
///
/// Buckets take the parameters in reverse of `RankingModel.parameters`, consecutive ones together
/// up to `bucketElements` floats. Backward finishes gradients in about the reverse of forward
/// order, so for a model that lists its parameters in forward order (as PEPNet does: embedding
/// gate, tower gates, towers) bucket 0 tends to be ready first. The order
/// must not depend on what one rank's batch reads, because every rank has to send the same
/// buckets in the same order. A parameter that finishes out of this order only delays the send
/// of its bucket. A parameter larger than a bucket gets a bucket of its own, which the ring
/// then reduces in pieces of `bucketElements`.
struct GradientBucketPlan: Equatable {
    /// Parameter indices of each bucket, in send order.
    let buckets: [[Int]]
    /// The bucket of each parameter, by parameter index.
    let bucketOfParameter: [Int]

    /// - Parameter parameterCounts: element count of each parameter, in `RankingModel.parameters` order.
    init(parameterCounts: [Int], bucketElements: Int) {
        precondition(bucketElements > 0, "bucketElements must be positive, got \(bucketElements)")
        var buckets: [[Int]] = []
        var current: [Int] = []
        var currentCount = 0
        for index in parameterCounts.indices.reversed() {
            let count = parameterCounts[index]
            if !current.isEmpty && currentCount + count > bucketElements {
                buckets.append(current)
                current = []
                currentCount = 0
            }
            current.append(index)
            currentCount += count
        }
        if !current.isEmpty {
            buckets.append(current)
        }

        var bucketOfParameter = [Int](repeating: 0, count: parameterCounts.count)
        for (bucket, members) in buckets.enumerated() {
            for index in members { bucketOfParameter[index] = bucket }
        }
        self.buckets = buckets
        self.bucketOfParameter = bucketOfParameter
    }
}

/// The release state of one step's buckets. A bucket is released once all of its parameters
/// are ready and every earlier bucket is released, so that all ranks send in plan order.
struct BucketReadiness {
    let plan: GradientBucketPlan
    private var pendingCounts: [Int]
    private var isReady: [Bool]
    /// Buckets `0..<releasedCount` have been released for sending this step.
    private(set) var releasedCount = 0

    init(plan: GradientBucketPlan) {
        self.plan = plan
        pendingCounts = plan.buckets.map(\.count)
        isReady = [Bool](repeating: false, count: plan.bucketOfParameter.count)
    }

    var isComplete: Bool { releasedCount == plan.buckets.count }

    /// Starts a new step with no parameter ready.
    mutating func reset() {
        pendingCounts = plan.buckets.map(\.count)
        isReady = [Bool](repeating: false, count: plan.bucketOfParameter.count)
        releasedCount = 0
    }

    /// Marks the gradient of parameter `index` final and returns the buckets this releases, in
    /// send order; often empty.
    mutating func markReady(_ index: Int) -> Range<Int> {
        precondition(!isReady[index], "parameter \(index) reported ready twice in one step")
        isReady[index] = true
        pendingCounts[plan.bucketOfParameter[index]] -= 1
        let first = releasedCount
        while releasedCount < plan.buckets.count && pendingCounts[releasedCount] == 0 {
            releasedCount += 1
        }
        return first..<releasedCount
    }

    /// Marks every parameter not yet ready as ready, for parameters the step's graph never read
    /// and for ranks without rows, and returns the buckets this releases.
    mutating func markAllReady() -> Range<Int> {
        let first = releasedCount
        for index in isReady.indices where !isReady[index] {
            _ = markReady(index)
        }
        return first..<releasedCount
    }
}

/// The flat buffers of the dense buckets: one allocation, bucket after bucket in plan order,
/// each bucket holding its parameters' gradients in plan order.
///
/// The memory is allocated once and never moves, so a bucket's pointer can be handed to an
/// `AllreduceWorker` thread while the trainer keeps running.
final class GradientBucketBuffers {
    let parameters: [Parameter]
    let plan: GradientBucketPlan
    /// The element range of each bucket in `storage`.
    let bucketRanges: [Range<Int>]
    /// The element range of each parameter in `storage`, by parameter index.
    private let parameterRanges: [Range<Int>]
    private let storage: UnsafeMutableBufferPointer<Float>
    /// Whether each parameter's gradient was all finite when it was last packed, by parameter
    /// index. The copy into the bucket checks it, so the non-finite scan need not read the
    /// gradients again.
    private(set) var packedGradientIsFinite: [Bool]

    init(parameters: [Parameter], plan: GradientBucketPlan) {
        precondition(plan.bucketOfParameter.count == parameters.count,
                     "bucket plan covers \(plan.bucketOfParameter.count) parameters, the model has \(parameters.count)")
        self.parameters = parameters
        self.plan = plan
        var parameterRanges = [Range<Int>](repeating: 0..<0, count: parameters.count)
        var bucketRanges: [Range<Int>] = []
        var offset = 0
        for members in plan.buckets {
            let start = offset
            for index in members {
                parameterRanges[index] = offset..<(offset + parameters[index].value.count)
                offset += parameters[index].value.count
            }
            bucketRanges.append(start..<offset)
        }
        self.parameterRanges = parameterRanges
        self.bucketRanges = bucketRanges
        storage = .allocate(capacity: offset)
        storage.initialize(repeating: 0)
        packedGradientIsFinite = [Bool](repeating: true, count: parameters.count)
    }

    deinit {
        storage.deallocate()
    }

    /// Returns the floats of `bucket`, for the allreduce.
    func buffer(_ bucket: Int) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(rebasing: storage[bucketRanges[bucket]])
    }

    /// Copies the gradients of `bucket`'s parameters into its buffer and records in
    /// `packedGradientIsFinite` whether each is all finite.
    func pack(_ bucket: Int) {
        for index in plan.buckets[bucket] {
            let target = storage.baseAddress! + parameterRanges[index].lowerBound
            packedGradientIsFinite[index] = parameters[index].gradient.scalars.withUnsafeBufferPointer { source in
                guard let base = source.baseAddress else { return true }
                return copyCheckingFinite(from: base, to: target, count: source.count)
            }
        }
    }

    /// Copies `bucket`'s buffer back into its parameters' gradients.
    func unpack(_ bucket: Int) {
        for index in plan.buckets[bucket] {
            let source = storage.baseAddress! + parameterRanges[index].lowerBound
            parameters[index].gradient.scalars.withUnsafeMutableBufferPointer { target in
                guard let base = target.baseAddress else { return }
                base.update(from: source, count: target.count)
            }
        }
    }
}
