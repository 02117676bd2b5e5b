import Foundation

/// One rank of an `InProcessWorld`. Collectives are built from the world's mailboxes with
/// negative tags, which user code cannot use, so they never match a point-to-point message.
public final class InProcessCommunicator: Communicator {
    public let rank: Int
    public var worldSize: Int { world.worldSize }
    public let world: InProcessWorld
    /// True: every call goes through the world's lock, so the calling thread does not matter.
    public var supportsSerializedCalls: Bool { true }

    /// Mailbox tags of the collectives. Every rank calls collectives in the same order and each
    /// mailbox is FIFO, so consecutive calls of one collective cannot mix up their messages.
    private enum CollectiveTag {
        static let barrier = -1
        static let broadcast = -2
        static let allgather = -3
        static let gather = -4
        static let allToAll = -5
    }

    public init(world: InProcessWorld, rank: Int) {
        precondition((0..<world.worldSize).contains(rank),
                     "rank must be in 0..<\(world.worldSize), got \(rank)")
        self.world = world
        self.rank = rank
    }

    // MARK: - Point to point

    public func send(_ bytes: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws {
        checkPeer(destination, tag: tag)
        let envelope = try world.post(bytes, from: rank, to: destination, tag: tag)
        try world.waitUntilReceived(envelope, operation: "send")
    }

    public func receive(into bytes: UnsafeMutableRawBufferPointer, from source: Int, tag: Int) throws {
        checkPeer(source, tag: tag)
        try world.take(into: bytes, from: source, to: rank, tag: tag, operation: "receive")
    }

    public func sendReceive(send: UnsafeRawBufferPointer, to destination: Int,
                            receive: UnsafeMutableRawBufferPointer, from source: Int, tag: Int) throws {
        checkPeer(destination, tag: tag)
        checkPeer(source, tag: tag)
        let envelope = try world.post(send, from: rank, to: destination, tag: tag)
        try world.take(into: receive, from: source, to: rank, tag: tag, operation: "sendReceive")
        try world.waitUntilReceived(envelope, operation: "sendReceive")
    }

    /// Calls the blocking form, which already sleeps on the world's condition while it waits.
    public func sendReceive(send: UnsafeRawBufferPointer, to destination: Int,
                            receive: UnsafeMutableRawBufferPointer, from source: Int, tag: Int,
                            pollIntervalSeconds: Double) throws {
        try sendReceive(send: send, to: destination, receive: receive, from: source, tag: tag)
    }

    // MARK: - Collectives

    public func barrier() throws {
        let empty = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        let others = otherRanks()
        try exchange(sends: others.map { ($0, UnsafeRawBufferPointer(empty)) },
                     receives: others.map { ($0, empty) },
                     tag: CollectiveTag.barrier, operation: "barrier")
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
        checkRoot(root)
        if rank == root {
            try exchange(sends: otherRanks().map { ($0, UnsafeRawBufferPointer(bytes)) }, receives: [],
                         tag: CollectiveTag.broadcast, operation: "broadcast")
        } else {
            try world.take(into: bytes, from: root, to: rank, tag: CollectiveTag.broadcast, operation: "broadcast")
        }
    }

    public func allgather(_ send: UnsafeRawBufferPointer, into received: UnsafeMutableRawBufferPointer) throws {
        precondition(received.count == send.count * worldSize,
                     "allgather needs \(send.count) × \(worldSize) received bytes, got \(received.count)")
        try allgatherv(send, counts: Array(repeating: send.count, count: worldSize), into: received)
    }

    public func allgatherv(_ send: UnsafeRawBufferPointer, counts: [Int],
                           into received: UnsafeMutableRawBufferPointer) throws {
        let offsets = checkedOffsets(counts, ownCount: send.count, total: received.count, operation: "allgatherv")
        let blocks = (0..<worldSize).map { slice(received, offsets[$0], counts[$0]) }
        blocks[rank].copyMemory(from: send)
        try exchange(sends: otherRanks().map { ($0, send) },
                     receives: otherRanks().map { ($0, blocks[$0]) },
                     tag: CollectiveTag.allgather, operation: "allgatherv")
    }

    public func gatherv(_ send: UnsafeRawBufferPointer, counts: [Int],
                        into received: UnsafeMutableRawBufferPointer, root: Int) throws {
        checkRoot(root)
        if rank != root {
            precondition(send.count == counts[rank],
                         "gatherv: rank \(rank) sends \(send.count) bytes but counts[\(rank)] is \(counts[rank])")
            try exchange(sends: [(root, send)], receives: [], tag: CollectiveTag.gather, operation: "gatherv")
            return
        }
        let offsets = checkedOffsets(counts, ownCount: send.count, total: received.count, operation: "gatherv")
        let blocks = (0..<worldSize).map { slice(received, offsets[$0], counts[$0]) }
        blocks[rank].copyMemory(from: send)
        try exchange(sends: [], receives: otherRanks().map { ($0, blocks[$0]) },
                     tag: CollectiveTag.gather, operation: "gatherv")
    }

    public func allToAll(_ send: UnsafeRawBufferPointer, into received: UnsafeMutableRawBufferPointer) throws {
        precondition(send.count == received.count && send.count % worldSize == 0,
                     "allToAll needs equal send and received sizes divisible by \(worldSize), "
                     + "got \(send.count) and \(received.count)")
        let counts = Array(repeating: send.count / worldSize, count: worldSize)
        try allToAllV(send, sendCounts: counts, into: received, receiveCounts: counts)
    }

    public func allToAllV(_ send: UnsafeRawBufferPointer, sendCounts: [Int],
                          into received: UnsafeMutableRawBufferPointer, receiveCounts: [Int]) throws {
        let sendOffsets = checkedOffsets(sendCounts, ownCount: sendCounts[rank], total: send.count,
                                         operation: "allToAllV send")
        let receiveOffsets = checkedOffsets(receiveCounts, ownCount: receiveCounts[rank], total: received.count,
                                            operation: "allToAllV receive")
        precondition(sendCounts[rank] == receiveCounts[rank],
                     "allToAllV: rank \(rank) sends itself \(sendCounts[rank]) bytes but expects \(receiveCounts[rank])")

        let sendBlocks = (0..<worldSize).map {
            UnsafeRawBufferPointer(slice(UnsafeMutableRawBufferPointer(mutating: send), sendOffsets[$0], sendCounts[$0]))
        }
        let receiveBlocks = (0..<worldSize).map { slice(received, receiveOffsets[$0], receiveCounts[$0]) }
        receiveBlocks[rank].copyMemory(from: sendBlocks[rank])
        try exchange(sends: otherRanks().map { ($0, sendBlocks[$0]) },
                     receives: otherRanks().map { ($0, receiveBlocks[$0]) },
                     tag: CollectiveTag.allToAll, operation: "allToAllV")
    }

    /// Gathers every rank's values and sums them in rank order in Float, so that every rank
    /// computes the same bits.
    public func allreduceBuiltin(_ values: UnsafeMutableBufferPointer<Float>, average: Bool) throws {
        let count = values.count
        var gathered = [Float](repeating: 0, count: count * worldSize)
        try gathered.withUnsafeMutableBytes { received in
            try allgather(UnsafeRawBufferPointer(values), into: received)
        }
        for index in 0..<count {
            var sum = gathered[index]
            for source in 1..<worldSize {
                sum += gathered[source * count + index]
            }
            values[index] = average ? sum / Float(worldSize) : sum
        }
    }

    public func abort(message: String, code: Int32) -> Never {
        world.abort(by: rank, message: message)
        world.finish(rank: rank, error: CommunicationError.aborted(by: rank, message: message))
        // The thread cannot return, because callers rely on `Never`, and cannot be unwound safely.
        // It sleeps on a semaphore that nothing signals.
        let parked = DispatchSemaphore(value: 0)
        while true {
            parked.wait()
        }
    }

    // MARK: - Helpers

    /// Posts every send, takes every receive, then waits until all sends are received. Posting
    /// first lets any pattern of exchanges complete without deadlock.
    private func exchange(sends: [(Int, UnsafeRawBufferPointer)], receives: [(Int, UnsafeMutableRawBufferPointer)],
                          tag: Int, operation: String) throws {
        var envelopes: [Envelope] = []
        for (destination, bytes) in sends {
            envelopes.append(try world.post(bytes, from: rank, to: destination, tag: tag))
        }
        for (source, bytes) in receives {
            try world.take(into: bytes, from: source, to: rank, tag: tag, operation: operation)
        }
        for envelope in envelopes {
            try world.waitUntilReceived(envelope, operation: operation)
        }
    }

    private func otherRanks() -> [Int] {
        (0..<worldSize).filter { $0 != rank }
    }

    private func slice(_ buffer: UnsafeMutableRawBufferPointer, _ offset: Int, _ count: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<(offset + count)])
    }

    private func checkPeer(_ peer: Int, tag: Int) {
        precondition((0..<worldSize).contains(peer), "peer rank must be in 0..<\(worldSize), got \(peer)")
        precondition((0..<32768).contains(tag), "tag must be in 0..<32768, got \(tag)")
    }

    private func checkRoot(_ root: Int) {
        precondition((0..<worldSize).contains(root), "root rank must be in 0..<\(worldSize), got \(root)")
    }

    /// Returns the start offset of each rank's block after checking the counts against the buffers.
    private func checkedOffsets(_ counts: [Int], ownCount: Int, total: Int, operation: String) -> [Int] {
        precondition(counts.count == worldSize, "\(operation) needs \(worldSize) counts, got \(counts.count)")
        precondition(counts.allSatisfy { $0 >= 0 }, "\(operation) counts must be non-negative, got \(counts)")
        precondition(ownCount == counts[rank],
                     "\(operation): rank \(rank) has \(ownCount) bytes but counts[\(rank)] is \(counts[rank])")
        precondition(total == counts.reduce(0, +),
                     "\(operation) buffer has \(total) bytes but the counts sum to \(counts.reduce(0, +))")
        var offsets: [Int] = []
        var offset = 0
        for count in counts {
            offsets.append(offset)
            offset += count
        }
        return offsets
    }
}
