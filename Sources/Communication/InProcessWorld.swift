import Foundation

/// W ranks as threads of one process, exchanging messages through shared mailboxes.
///
/// It runs the same code paths as MPI in tests and `--debug` runs. A send posts a copy of the
/// bytes to the mailbox of (source, destination, tag), a FIFO queue, and then waits until the
/// destination takes it, like a synchronous MPI send. That is stricter than MPI, whose small sends
/// return at once, so code that would deadlock under MPI with large messages deadlocks here at
/// every size. A wait that exceeds `timeoutSeconds` throws `CommunicationError.timedOut` naming
/// both ranks. Once any rank aborts or its body throws, every waiting or later call throws
/// `CommunicationError.aborted`.
///
/// `@unchecked Sendable`: every mutable field (mailboxes, envelopes, abort record, run results)
/// is read and written only while holding `condition`.
public final class InProcessWorld: @unchecked Sendable {
    /// Default limit on any single wait, long enough for a slow evaluation pass on one rank.
    public static let defaultTimeoutSeconds = 300.0

    public let worldSize: Int
    public let timeoutSeconds: Double

    private struct MailboxKey: Hashable {
        let source: Int
        let destination: Int
        let tag: Int
    }

    private let condition = NSCondition()
    private var mailboxes: [MailboxKey: [Envelope]] = [:]
    private var abortRecord: (rank: Int, message: String)?

    private var finishedRankCount = 0
    private var firstError: Error?

    public init(worldSize: Int, timeoutSeconds: Double = InProcessWorld.defaultTimeoutSeconds) {
        precondition(worldSize >= 1, "worldSize must be at least 1, got \(worldSize)")
        precondition(timeoutSeconds > 0, "timeoutSeconds must be positive, got \(timeoutSeconds)")
        self.worldSize = worldSize
        self.timeoutSeconds = timeoutSeconds
    }

    /// Runs `body` on `worldSize` threads, one communicator each, and returns the results in rank
    /// order. If any body throws, the world is aborted so that its peers stop waiting, and the
    /// first error thrown (in time) is rethrown here once every rank has finished.
    ///
    /// NOTE: a rank that calls `abort` never returns, so its thread stays parked after `run`
    /// throws. Tests that abort leak one idle thread each.
    public static func run<T>(worldSize: Int, timeoutSeconds: Double = defaultTimeoutSeconds,
                              body: @escaping (Communicator) throws -> T) throws -> [T] {
        let world = InProcessWorld(worldSize: worldSize, timeoutSeconds: timeoutSeconds)
        let results = ResultSlots<T>(count: worldSize)

        for rank in 0..<worldSize {
            let communicator = InProcessCommunicator(world: world, rank: rank)
            let thread = Thread {
                do {
                    let value = try body(communicator)
                    results.store(value, rank: rank, lock: world.condition)
                    world.finish(rank: rank, error: nil)
                } catch {
                    world.finish(rank: rank, error: error)
                }
            }
            thread.name = "rank \(rank)/\(worldSize)"
            thread.start()
        }

        world.condition.lock()
        while world.finishedRankCount < worldSize {
            world.condition.wait()
        }
        let error = world.firstError
        world.condition.unlock()

        if let error { throw error }
        return results.values(lock: world.condition)
    }

    // MARK: - Mailbox operations (used by InProcessCommunicator)

    /// Queues a copy of `bytes` for `destination` and returns its envelope without waiting.
    func post(_ bytes: UnsafeRawBufferPointer, from source: Int, to destination: Int, tag: Int) throws -> Envelope {
        let envelope = Envelope(bytes: Array(bytes), source: source, destination: destination, tag: tag)
        condition.lock()
        defer { condition.unlock() }
        try throwIfAborted()
        mailboxes[MailboxKey(source: source, destination: destination, tag: tag), default: []].append(envelope)
        condition.broadcast()
        return envelope
    }

    /// Waits until `destination` has taken `envelope`.
    func waitUntilReceived(_ envelope: Envelope, operation: String) throws {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeoutSeconds)
        while !envelope.isReceived {
            try throwIfAborted()
            if !condition.wait(until: deadline), !envelope.isReceived {
                try throwIfAborted()
                throw CommunicationError.timedOut(operation: operation, rank: envelope.source,
                                                  peer: envelope.destination, tag: envelope.tag,
                                                  seconds: timeoutSeconds)
            }
        }
    }

    /// Takes the oldest message from `source` to `destination` with `tag` into `bytes`, waiting
    /// for one to arrive.
    func take(into bytes: UnsafeMutableRawBufferPointer, from source: Int, to destination: Int, tag: Int,
              operation: String) throws {
        let key = MailboxKey(source: source, destination: destination, tag: tag)
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeoutSeconds)
        while mailboxes[key]?.isEmpty ?? true {
            try throwIfAborted()
            if !condition.wait(until: deadline), mailboxes[key]?.isEmpty ?? true {
                try throwIfAborted()
                throw CommunicationError.timedOut(operation: operation, rank: destination, peer: source,
                                                  tag: tag, seconds: timeoutSeconds)
            }
        }

        let envelope = mailboxes[key]!.removeFirst()
        envelope.isReceived = true
        condition.broadcast()
        guard envelope.bytes.count == bytes.count else {
            throw CommunicationError.sizeMismatch(operation: operation, rank: destination, peer: source,
                                                  expectedBytes: bytes.count, actualBytes: envelope.bytes.count)
        }
        envelope.bytes.withUnsafeBytes { bytes.copyMemory(from: $0) }
    }

    /// Marks the world aborted by `rank` and wakes every waiting rank. Only the first abort is kept.
    func abort(by rank: Int, message: String) {
        condition.lock()
        if abortRecord == nil {
            abortRecord = (rank, message)
        }
        condition.broadcast()
        condition.unlock()
    }

    /// Records that `rank`'s body ended. A failure aborts the world so that no peer waits for it.
    func finish(rank: Int, error: Error?) {
        condition.lock()
        if let error {
            if firstError == nil {
                firstError = error
            }
            if abortRecord == nil {
                abortRecord = (rank, "rank \(rank) failed: \(error)")
            }
        }
        finishedRankCount += 1
        condition.broadcast()
        condition.unlock()
    }

    private func throwIfAborted() throws {
        if let abortRecord {
            throw CommunicationError.aborted(by: abortRecord.rank, message: abortRecord.message)
        }
    }
}

/// One posted message. `isReceived` is guarded by the owning world's condition.
final class Envelope {
    let bytes: [UInt8]
    let source: Int
    let destination: Int
    let tag: Int
    var isReceived = false

    init(bytes: [UInt8], source: Int, destination: Int, tag: Int) {
        self.bytes = bytes
        self.source = source
        self.destination = destination
        self.tag = tag
    }
}

/// Per-rank results of `InProcessWorld.run`, written by the rank threads under the world's lock.
private final class ResultSlots<T>: @unchecked Sendable {
    private var slots: [T?]

    init(count: Int) {
        slots = Array(repeating: nil, count: count)
    }

    func store(_ value: T, rank: Int, lock: NSCondition) {
        lock.lock()
        slots[rank] = value
        lock.unlock()
    }

    func values(lock: NSCondition) -> [T] {
        lock.lock()
        defer { lock.unlock() }
        return slots.map { $0! }
    }
}
