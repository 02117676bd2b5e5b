#if canImport(Glibc)
import Glibc
#endif

/// Counters of `RingAllreduce`, accumulated over calls until `reset`.
///
/// The steps follow the fused multi-buffer allreduce: copy the parameters' gradients into the
/// fusion buffer, reduce it over the ring (the division for averaging included), copy the result
/// back. A single-buffer allreduce reduces in place and adds nothing to the copy counters.
public struct AllreduceStatistics: Equatable, Sendable {
    /// Number of `allreduce` calls.
    public var calls = 0
    /// Number of ring passes, one per bucket.
    public var buckets = 0
    /// Float32 payload reduced, in bytes (before the ring multiplies traffic by 2(W−1)/W).
    public var bytes = 0
    public var copyInSeconds = 0.0
    public var reduceSeconds = 0.0
    public var copyOutSeconds = 0.0

    public init() {}

    public var totalSeconds: Double { copyInSeconds + reduceSeconds + copyOutSeconds }

    public mutating func reset() {
        self = AllreduceStatistics()
    }
}

/// Seconds on a monotonic clock, for timing steps.
func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}
