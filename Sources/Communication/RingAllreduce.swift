/// Sum (or mean) of Float32 buffers over all ranks, by a ring of point-to-point exchanges.
///
/// Each bucket of L floats is cut into W chunks whose sizes differ by at most one (some are empty
/// when L < W). Ranks form a ring: rank r sends to r+1 and receives from r−1.
/// - Reduce-scatter, W−1 steps: at step s rank r sends chunk (r−s) mod W and adds the chunk
///   (r−s−1) mod W that it receives into its own copy. Afterwards rank r holds the full sum of
///   chunk (r+1) mod W and divides it by W when averaging.
/// - Allgather, W−1 steps: each rank passes on the finished chunks until every rank has all W.
///
/// Each rank sends and receives 2(W−1)/W · L floats, independent of W. The order of additions for
/// chunk c is fixed, x[c] + x[c+1] + … + x[c−1] (ranks mod W), and each finished chunk is
/// computed on one rank and then copied, so results are bit-identical across ranks and runs.
/// They may differ in the last bits from `MPI_Allreduce`, which adds in another order.
///
/// The multi-buffer form copies parameters' gradients into one contiguous fusion buffer per bucket
/// of `bucketBytes`, reduces it, and copies the result back; each step is timed in `statistics`.
/// A world of one rank skips communication. Use it from one thread at a time, like its communicator.
public final class RingAllreduce {
    /// Default fusion bucket size: 25 MiB, the default bucket size of PyTorch's
    /// DistributedDataParallel. Dense CTR towers are usually smaller, so they fit in one bucket
    /// and pay the ring's 2(W−1) message latencies once per step.
    public static let defaultBucketBytes = 25 << 20
    /// Point-to-point tag used by the ring; other code should not use it on the same communicator.
    public static let defaultTag = 32_000

    public let communicator: Communicator
    public let bucketBytes: Int
    public let tag: Int
    public private(set) var statistics = AllreduceStatistics()
    /// When set, each ring exchange waits by polling at this interval and sleeping in between
    /// (`Communicator.sendReceive(send:to:receive:from:tag:pollIntervalSeconds:)`); nil waits in
    /// the communicator's blocking call.
    public var pollIntervalSeconds: Double?

    private let bucketElements: Int
    private var fusionBuffer: [Float] = []
    private var receiveBuffer: [Float] = []

    public init(communicator: Communicator, bucketBytes: Int = RingAllreduce.defaultBucketBytes,
                tag: Int = RingAllreduce.defaultTag) {
        precondition(bucketBytes >= MemoryLayout<Float>.size,
                     "bucketBytes must hold at least one Float, got \(bucketBytes)")
        self.communicator = communicator
        self.bucketBytes = bucketBytes
        self.tag = tag
        self.bucketElements = bucketBytes / MemoryLayout<Float>.size
    }

    public func resetStatistics() {
        statistics.reset()
    }

    /// Sums `buffer` over all ranks in place, one bucket at a time, dividing by W when `average`.
    /// Every rank passes the same count.
    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Float>, average: Bool) throws {
        statistics.calls += 1
        statistics.bytes += buffer.count * MemoryLayout<Float>.size

        var start = 0
        while start < buffer.count {
            let end = min(start + bucketElements, buffer.count)
            let bucket = UnsafeMutableBufferPointer(rebasing: buffer[start..<end])
            let reduceStart = monotonicSeconds()
            try reduceBucket(bucket, average: average)
            statistics.reduceSeconds += monotonicSeconds() - reduceStart
            start = end
        }
    }

    /// Sums each of `buffers` over all ranks in place, through a fusion buffer: the buffers are
    /// read as one concatenated sequence and cut into buckets of `bucketBytes`. Every rank passes
    /// buffers of the same counts in the same order.
    public func allreduce(parameters buffers: [UnsafeMutableBufferPointer<Float>], average: Bool) throws {
        statistics.calls += 1
        let totalCount = buffers.reduce(0) { $0 + $1.count }
        statistics.bytes += totalCount * MemoryLayout<Float>.size
        if fusionBuffer.count < min(bucketElements, totalCount) {
            fusionBuffer = [Float](repeating: 0, count: min(bucketElements, totalCount))
        }

        // Position of the next float to copy in: buffer index and offset inside that buffer.
        var bufferIndex = 0
        var offset = 0
        while bufferIndex < buffers.count {
            let bucketStart = (bufferIndex, offset)

            let copyInStart = monotonicSeconds()
            var filled = 0
            while filled < bucketElements && bufferIndex < buffers.count {
                let source = buffers[bufferIndex]
                let count = min(source.count - offset, bucketElements - filled)
                copy(from: source.baseAddress.map { $0 + offset }, to: &fusionBuffer, at: filled, count: count)
                filled += count
                offset += count
                if offset == source.count {
                    bufferIndex += 1
                    offset = 0
                }
            }
            let reduceStart = monotonicSeconds()
            statistics.copyInSeconds += reduceStart - copyInStart
            if filled == 0 {
                // Only empty buffers were left. Every rank has the same counts, so all stop here.
                break
            }

            try fusionBuffer.withUnsafeMutableBufferPointer { fusion in
                try reduceBucket(UnsafeMutableBufferPointer(rebasing: fusion[0..<filled]), average: average)
            }
            let copyOutStart = monotonicSeconds()
            statistics.reduceSeconds += copyOutStart - reduceStart

            copyOut(filled, from: bucketStart, to: buffers)
            statistics.copyOutSeconds += monotonicSeconds() - copyOutStart
        }
    }

    // MARK: - Ring

    /// Reduces one bucket in place: reduce-scatter, then allgather, W−1 exchanges each.
    private func reduceBucket(_ bucket: UnsafeMutableBufferPointer<Float>, average: Bool) throws {
        statistics.buckets += 1
        let worldSize = communicator.worldSize
        guard worldSize > 1 else { return }

        let rank = communicator.rank
        let right = (rank + 1) % worldSize
        let left = (rank + worldSize - 1) % worldSize
        let chunks = ChunkLayout(count: bucket.count, chunkCount: worldSize)
        if receiveBuffer.count < chunks.maximumChunkCount {
            receiveBuffer = [Float](repeating: 0, count: chunks.maximumChunkCount)
        }

        try receiveBuffer.withUnsafeMutableBufferPointer { received in
            for step in 0..<(worldSize - 1) {
                let sendChunk = chunks.range((rank - step + worldSize) % worldSize)
                let receiveChunk = chunks.range((rank - step - 1 + 2 * worldSize) % worldSize)
                let incoming = UnsafeMutableBufferPointer(rebasing: received[0..<receiveChunk.count])
                let outgoing = UnsafeMutableBufferPointer(rebasing: bucket[sendChunk])
                try exchange(send: UnsafeRawBufferPointer(outgoing), to: right,
                             receive: UnsafeMutableRawBufferPointer(incoming), from: left)
                add(incoming, into: UnsafeMutableBufferPointer(rebasing: bucket[receiveChunk]))
            }
        }

        if average {
            let owned = UnsafeMutableBufferPointer(rebasing: bucket[chunks.range((rank + 1) % worldSize)])
            let divisor = Float(worldSize)
            for index in owned.indices {
                owned[index] /= divisor
            }
        }

        for step in 0..<(worldSize - 1) {
            let sendChunk = chunks.range((rank + 1 - step + worldSize) % worldSize)
            let receiveChunk = chunks.range((rank - step + worldSize) % worldSize)
            let outgoing = UnsafeMutableBufferPointer(rebasing: bucket[sendChunk])
            let incoming = UnsafeMutableBufferPointer(rebasing: bucket[receiveChunk])
            try exchange(send: UnsafeRawBufferPointer(outgoing), to: right,
                         receive: UnsafeMutableRawBufferPointer(incoming), from: left)
        }
    }

    private func exchange(send: UnsafeRawBufferPointer, to right: Int,
                          receive: UnsafeMutableRawBufferPointer, from left: Int) throws {
        if let pollIntervalSeconds {
            try communicator.sendReceive(send: send, to: right, receive: receive, from: left, tag: tag,
                                         pollIntervalSeconds: pollIntervalSeconds)
        } else {
            try communicator.sendReceive(send: send, to: right, receive: receive, from: left, tag: tag)
        }
    }

    private func add(_ source: UnsafeMutableBufferPointer<Float>, into destination: UnsafeMutableBufferPointer<Float>) {
        guard let sourceBase = source.baseAddress, let destinationBase = destination.baseAddress else { return }
        for index in 0..<source.count {
            destinationBase[index] += sourceBase[index]
        }
    }

    // MARK: - Fusion buffer copies

    private func copy(from source: UnsafeMutablePointer<Float>?, to fusion: inout [Float], at start: Int, count: Int) {
        guard count > 0, let source else { return }
        fusion.withUnsafeMutableBufferPointer { fusion in
            (fusion.baseAddress! + start).update(from: source, count: count)
        }
    }

    /// Copies the first `filled` floats of the fusion buffer back to `buffers`, starting at
    /// `start` (buffer index, offset).
    private func copyOut(_ filled: Int, from start: (Int, Int), to buffers: [UnsafeMutableBufferPointer<Float>]) {
        var (bufferIndex, offset) = start
        var copied = 0
        fusionBuffer.withUnsafeBufferPointer { fusion in
            while copied < filled {
                let destination = buffers[bufferIndex]
                let count = min(destination.count - offset, filled - copied)
                if count > 0 {
                    (destination.baseAddress! + offset).update(from: fusion.baseAddress! + copied, count: count)
                }
                copied += count
                offset += count
                if offset == destination.count {
                    bufferIndex += 1
                    offset = 0
                }
            }
        }
    }
}

/// Split of `count` elements into `chunkCount` contiguous chunks; the first `count % chunkCount`
/// chunks have one element more than the rest.
struct ChunkLayout {
    let count: Int
    let chunkCount: Int

    var maximumChunkCount: Int { (count + chunkCount - 1) / chunkCount }

    func range(_ chunk: Int) -> Range<Int> {
        let base = count / chunkCount
        let remainder = count % chunkCount
        let start = chunk * base + min(chunk, remainder)
        let length = base + (chunk < remainder ? 1 : 0)
        return start..<(start + length)
    }
}
