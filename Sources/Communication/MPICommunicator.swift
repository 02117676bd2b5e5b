import CMPI
#if canImport(Glibc)
import Glibc
#endif

/// A communicator over MPI: one process per rank, started by `mpirun` (or `srun`).
///
/// It requests `MPI_THREAD_SERIALIZED`: calls may come from any thread, but never two at
/// once, which lets an `AllreduceWorker` thread run the gradient allreduce while the creating
/// thread computes. `supportsSerializedCalls` is true when the library granted that level. When
/// it did not, every call must come from the thread that created the communicator.
///
/// It works on a duplicate of `MPI_COMM_WORLD` whose error handler is `MPI_ERRORS_RETURN`, and
/// turns each failed call into `CommunicationError.mpi` with the call's name, the rank and MPI's
/// error string. A process started without `mpirun` is an Open MPI singleton: a world of one rank.
///
/// All sizes are in bytes with the `MPI_BYTE` type, so a message is limited to `Int32.max` bytes
/// (larger ones throw `messageTooLarge`).
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let worldSize: Int
    /// Provided MPI thread level: what `MPI_Init_thread` granted, or what `MPI_Query_thread`
    /// reports when MPI was initialized before.
    public let threadLevel: Int32
    /// Whether MPI granted `MPI_THREAD_SERIALIZED` or more. MPI numbers its thread levels in
    /// increasing order, so one comparison covers `MPI_THREAD_MULTIPLE` too.
    public var supportsSerializedCalls: Bool { threadLevel >= cmpi_thread_serialized() }
    private var communicator: MPI_Comm?

    /// Initializes MPI unless it already is, and duplicates the world communicator.
    public init() throws {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized != 0 {
            throw CommunicationError.finalized(rank: -1)
        }

        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        var provided: Int32 = 0
        if initialized == 0 {
            // Errors of MPI_Init_thread are fatal under the default handler, so its code needs no check.
            MPI_Init_thread(nil, nil, cmpi_thread_serialized(), &provided)
        } else {
            MPI_Query_thread(&provided)
        }
        threadLevel = provided

        var worldRank: Int32 = 0
        MPI_Comm_rank(cmpi_comm_world(), &worldRank)
        MPI_Comm_set_errhandler(cmpi_comm_world(), cmpi_errors_return())

        var duplicate: MPI_Comm?
        try MPICommunicator.check(MPI_Comm_dup(cmpi_comm_world(), &duplicate), call: "MPI_Comm_dup", rank: Int(worldRank))
        try MPICommunicator.check(MPI_Comm_set_errhandler(duplicate, cmpi_errors_return()),
                                  call: "MPI_Comm_set_errhandler", rank: Int(worldRank))
        var size: Int32 = 0
        try MPICommunicator.check(MPI_Comm_size(duplicate, &size), call: "MPI_Comm_size", rank: Int(worldRank))

        communicator = duplicate
        rank = Int(worldRank)
        worldSize = Int(size)
    }

    /// Frees the duplicated communicator and finalizes MPI for the whole process. Every rank calls
    /// it once, after its last communication.
    public func finalize() throws {
        if communicator != nil {
            try check(MPI_Comm_free(&communicator), call: "MPI_Comm_free")
            communicator = nil
        }
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 {
            try check(MPI_Finalize(), call: "MPI_Finalize")
        }
    }

    // MARK: - Point to point

    public func send(_ bytes: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws {
        let comm = try liveCommunicator()
        checkPeer(destination, tag: tag)
        let count = try mpiCount(bytes.count, call: "MPI_Send")
        try check(MPI_Send(bytes.baseAddress, count, cmpi_byte(), Int32(destination), Int32(tag), comm),
                  call: "MPI_Send")
    }

    public func receive(into bytes: UnsafeMutableRawBufferPointer, from source: Int, tag: Int) throws {
        let comm = try liveCommunicator()
        checkPeer(source, tag: tag)
        let count = try mpiCount(bytes.count, call: "MPI_Recv")
        var status = MPI_Status()
        try check(MPI_Recv(bytes.baseAddress, count, cmpi_byte(), Int32(source), Int32(tag), comm, &status),
                  call: "MPI_Recv")
        try checkReceivedCount(status, expected: bytes.count, peer: source, call: "MPI_Recv")
    }

    public func sendReceive(send: UnsafeRawBufferPointer, to destination: Int,
                            receive: UnsafeMutableRawBufferPointer, from source: Int, tag: Int) throws {
        let comm = try liveCommunicator()
        checkPeer(destination, tag: tag)
        checkPeer(source, tag: tag)
        let sendCount = try mpiCount(send.count, call: "MPI_Sendrecv")
        let receiveCount = try mpiCount(receive.count, call: "MPI_Sendrecv")
        var status = MPI_Status()
        try check(MPI_Sendrecv(send.baseAddress, sendCount, cmpi_byte(), Int32(destination), Int32(tag),
                               receive.baseAddress, receiveCount, cmpi_byte(), Int32(source), Int32(tag),
                               comm, &status),
                  call: "MPI_Sendrecv")
        try checkReceivedCount(status, expected: receive.count, peer: source, call: "MPI_Sendrecv")
    }

    /// Posts `MPI_Irecv` and `MPI_Isend`, then tests both with `MPI_Testall` and sleeps
    /// `pollIntervalSeconds` between tests, or yields the CPU when it is 0. Open MPI 4.1's blocking calls poll in a loop (yielding
    /// between polls only with `mpi_yield_when_idle`), which takes a core from a computing thread while the peer is late.
    public func sendReceive(send: UnsafeRawBufferPointer, to destination: Int,
                            receive: UnsafeMutableRawBufferPointer, from source: Int, tag: Int,
                            pollIntervalSeconds: Double) throws {
        precondition(pollIntervalSeconds >= 0, "pollIntervalSeconds must not be negative, got \(pollIntervalSeconds)")
        let comm = try liveCommunicator()
        checkPeer(destination, tag: tag)
        checkPeer(source, tag: tag)
        let sendCount = try mpiCount(send.count, call: "MPI_Isend")
        let receiveCount = try mpiCount(receive.count, call: "MPI_Irecv")

        var requests: [MPI_Request?] = [nil, nil]
        try check(MPI_Irecv(receive.baseAddress, receiveCount, cmpi_byte(), Int32(source), Int32(tag), comm, &requests[0]),
                  call: "MPI_Irecv")
        do {
            try check(MPI_Isend(send.baseAddress, sendCount, cmpi_byte(), Int32(destination), Int32(tag), comm,
                                &requests[1]),
                      call: "MPI_Isend")
        } catch {
            cancelPending(&requests, posted: 1)
            throw error
        }
        var statuses = [MPI_Status](repeating: MPI_Status(), count: 2)
        var pause = timespec(tv_sec: Int(pollIntervalSeconds),
                             tv_nsec: Int((pollIntervalSeconds - pollIntervalSeconds.rounded(.down)) * 1e9))
        var polls = 0
        // With an interval of 0 the first polls only yield, which keeps Open MPI's fragments
        // moving. A peer that is still far behind is then waited for in 20 µs sleeps, so the
        // loop does not hold the core that backward needs.
        var idlePause = timespec(tv_sec: 0, tv_nsec: 20_000)
        while true {
            var done: Int32 = 0
            let code = MPI_Testall(2, &requests, &done, &statuses)
            if code != cmpi_success() {
                cancelPending(&requests, posted: 2, statuses: code == MPI_ERR_IN_STATUS ? statuses : nil)
                try check(code, call: "MPI_Testall")
            }
            if done != 0 { break }
            polls += 1
            if pollIntervalSeconds > 0 {
                nanosleep(&pause, nil)
            } else if polls < 2_000 {
                sched_yield()
            } else {
                nanosleep(&idlePause, nil)
            }
        }
        try checkReceivedCount(statuses[0], expected: receive.count, peer: source, call: "MPI_Irecv")
    }

    /// Cancels and completes the first `posted` requests of a failed `sendReceive`, so that MPI
    /// neither reads nor writes the caller's buffers after the error is thrown.
    ///
    /// With `statuses` from an `MPI_Testall` that returned `MPI_ERR_IN_STATUS`, only requests
    /// whose status is `MPI_ERR_PENDING` are still active, because MPI has freed the others. Without
    /// them, every posted request is treated as active. The return codes are ignored because the
    /// caller is already throwing the first error.
    ///
    /// NOTE: Open MPI 4.1 does not cancel a send that has started. `MPI_Wait` then returns only
    /// once the peer receives it, which keeps the send buffer valid but can wait on a peer that
    /// failed at the same time.
    private func cancelPending(_ requests: inout [MPI_Request?], posted: Int, statuses: [MPI_Status]? = nil) {
        for index in 0..<posted {
            if let statuses, statuses[index].MPI_ERROR != MPI_ERR_PENDING { continue }
            var status = MPI_Status()
            MPI_Cancel(&requests[index])
            MPI_Wait(&requests[index], &status)
        }
    }

    // MARK: - Collectives

    public func barrier() throws {
        try check(MPI_Barrier(try liveCommunicator()), call: "MPI_Barrier")
    }

    public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws {
        let comm = try liveCommunicator()
        checkRoot(root)
        let count = try mpiCount(bytes.count, call: "MPI_Bcast")
        try check(MPI_Bcast(bytes.baseAddress, count, cmpi_byte(), Int32(root), comm), call: "MPI_Bcast")
    }

    public func allgather(_ send: UnsafeRawBufferPointer, into received: UnsafeMutableRawBufferPointer) throws {
        let comm = try liveCommunicator()
        precondition(received.count == send.count * worldSize,
                     "allgather needs \(send.count) × \(worldSize) received bytes, got \(received.count)")
        let count = try mpiCount(send.count, call: "MPI_Allgather")
        _ = try mpiCount(received.count, call: "MPI_Allgather")
        try check(MPI_Allgather(send.baseAddress, count, cmpi_byte(), received.baseAddress, count, cmpi_byte(), comm),
                  call: "MPI_Allgather")
    }

    public func allgatherv(_ send: UnsafeRawBufferPointer, counts: [Int],
                           into received: UnsafeMutableRawBufferPointer) throws {
        let comm = try liveCommunicator()
        let layout = try blockLayout(counts, ownCount: send.count, total: received.count, call: "MPI_Allgatherv")
        try check(MPI_Allgatherv(send.baseAddress, layout.counts[rank], cmpi_byte(), received.baseAddress,
                                 layout.counts, layout.offsets, cmpi_byte(), comm),
                  call: "MPI_Allgatherv")
    }

    public func gatherv(_ send: UnsafeRawBufferPointer, counts: [Int],
                        into received: UnsafeMutableRawBufferPointer, root: Int) throws {
        let comm = try liveCommunicator()
        checkRoot(root)
        let total = rank == root ? received.count : counts.reduce(0, +)
        let layout = try blockLayout(counts, ownCount: send.count, total: total, call: "MPI_Gatherv")
        try check(MPI_Gatherv(send.baseAddress, layout.counts[rank], cmpi_byte(), received.baseAddress,
                              layout.counts, layout.offsets, cmpi_byte(), Int32(root), comm),
                  call: "MPI_Gatherv")
    }

    public func allToAll(_ send: UnsafeRawBufferPointer, into received: UnsafeMutableRawBufferPointer) throws {
        let comm = try liveCommunicator()
        precondition(send.count == received.count && send.count % worldSize == 0,
                     "allToAll needs equal send and received sizes divisible by \(worldSize), "
                     + "got \(send.count) and \(received.count)")
        _ = try mpiCount(send.count, call: "MPI_Alltoall")
        let blockCount = Int32(send.count / worldSize)
        try check(MPI_Alltoall(send.baseAddress, blockCount, cmpi_byte(), received.baseAddress, blockCount,
                               cmpi_byte(), comm),
                  call: "MPI_Alltoall")
    }

    public func allToAllV(_ send: UnsafeRawBufferPointer, sendCounts: [Int],
                          into received: UnsafeMutableRawBufferPointer, receiveCounts: [Int]) throws {
        let comm = try liveCommunicator()
        let sendLayout = try blockLayout(sendCounts, ownCount: sendCounts[rank], total: send.count,
                                         call: "MPI_Alltoallv")
        let receiveLayout = try blockLayout(receiveCounts, ownCount: receiveCounts[rank], total: received.count,
                                            call: "MPI_Alltoallv")
        try check(MPI_Alltoallv(send.baseAddress, sendLayout.counts, sendLayout.offsets, cmpi_byte(),
                                received.baseAddress, receiveLayout.counts, receiveLayout.offsets, cmpi_byte(), comm),
                  call: "MPI_Alltoallv")
    }

    public func allreduceBuiltin(_ values: UnsafeMutableBufferPointer<Float>, average: Bool) throws {
        let comm = try liveCommunicator()
        let count = try mpiCount(values.count, call: "MPI_Allreduce")
        try check(MPI_Allreduce(cmpi_in_place(), values.baseAddress, count, cmpi_float(), cmpi_op_sum(), comm),
                  call: "MPI_Allreduce")
        if average && worldSize > 1 {
            let divisor = Float(worldSize)
            for index in values.indices {
                values[index] /= divisor
            }
        }
    }

    public func abort(message: String, code: Int32) -> Never {
        fputs("[rank \(rank)/\(worldSize)] aborting the job: \(message)\n", stderr)
        MPI_Abort(communicator ?? cmpi_comm_world(), code)
        // MPI_Abort does not return in Open MPI; exit in case another implementation does.
        exit(code)
    }

    // MARK: - Helpers

    private func liveCommunicator() throws -> MPI_Comm {
        guard let communicator else {
            throw CommunicationError.finalized(rank: rank)
        }
        return communicator
    }

    private func check(_ code: Int32, call: String) throws {
        try MPICommunicator.check(code, call: call, rank: rank)
    }

    private static func check(_ code: Int32, call: String, rank: Int) throws {
        guard code != cmpi_success() else { return }
        var buffer = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        let message = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw CommunicationError.mpi(call: call, rank: rank, code: code, message: message)
    }

    private func mpiCount(_ bytes: Int, call: String) throws -> Int32 {
        guard let count = Int32(exactly: bytes) else {
            throw CommunicationError.messageTooLarge(call: call, rank: rank, bytes: bytes)
        }
        return count
    }

    private func checkReceivedCount(_ status: MPI_Status, expected: Int, peer: Int, call: String) throws {
        var status = status
        var count: Int32 = 0
        try check(MPI_Get_count(&status, cmpi_byte(), &count), call: "MPI_Get_count")
        if Int(count) != expected {
            throw CommunicationError.sizeMismatch(operation: call, rank: rank, peer: peer,
                                                  expectedBytes: expected, actualBytes: Int(count))
        }
    }

    private func checkPeer(_ peer: Int, tag: Int) {
        precondition((0..<worldSize).contains(peer), "peer rank must be in 0..<\(worldSize), got \(peer)")
        precondition((0..<32768).contains(tag), "tag must be in 0..<32768, got \(tag)")
    }

    private func checkRoot(_ root: Int) {
        precondition((0..<worldSize).contains(root), "root rank must be in 0..<\(worldSize), got \(root)")
    }

    /// Converts per-rank byte counts to MPI's 32-bit counts and displacements after checking them
    /// against the buffer sizes.
    private func blockLayout(_ counts: [Int], ownCount: Int, total: Int,
                             call: String) throws -> (counts: [Int32], offsets: [Int32]) {
        precondition(counts.count == worldSize, "\(call) needs \(worldSize) counts, got \(counts.count)")
        precondition(counts.allSatisfy { $0 >= 0 }, "\(call) counts must be non-negative, got \(counts)")
        precondition(ownCount == counts[rank],
                     "\(call): rank \(rank) has \(ownCount) bytes but counts[\(rank)] is \(counts[rank])")
        precondition(total == counts.reduce(0, +),
                     "\(call) buffer has \(total) bytes but the counts sum to \(counts.reduce(0, +))")
        _ = try mpiCount(total, call: call)
        var offsets: [Int32] = []
        var offset: Int32 = 0
        for count in counts {
            offsets.append(offset)
            offset += Int32(count)
        }
        return (counts.map { Int32($0) }, offsets)
    }
}
