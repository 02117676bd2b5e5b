/// A group of W processes (ranks 0..<W) that exchange bytes.
///
/// Two implementations share this contract so that training code runs unchanged under both:
/// `MPICommunicator` (one process per rank, started by `mpirun`) and the communicators of an
/// `InProcessWorld` (one thread per rank, for tests and `--debug` runs).
///
/// Rules that both implementations follow:
/// - Every rank calls the collectives (`barrier`, `broadcast`, `allgather`, ...) in the same order
///   with matching sizes, as in MPI.
/// - Point-to-point messages between one pair of ranks with one tag arrive in the order sent.
///   Tags are non-negative and below 32768 (the smallest upper bound MPI guarantees).
/// - A receive buffer must have exactly the size of the message; any other size throws
///   `CommunicationError.sizeMismatch`.
/// - `send` may block until the destination receives, so two ranks that send to each other must
///   use `sendReceive`.
/// - Errors from outside the caller's control (MPI return codes, timeouts, an abort by a peer)
///   are thrown as `CommunicationError`. Invalid ranks, tags or buffer sizes are programmer errors
///   and stop the process with a precondition failure.
///
/// A communicator is used from one thread at a time. Whether that may be a different thread from
/// call to call is `supportsSerializedCalls`.
public protocol Communicator: AnyObject {
    /// This process's rank, in 0..<worldSize.
    var rank: Int { get }
    /// Number of ranks W.
    var worldSize: Int { get }
    /// Whether calls may come from any thread, provided no two overlap in time
    /// (`MPI_THREAD_SERIALIZED`). When false, only the thread that created the communicator calls it.
    var supportsSerializedCalls: Bool { get }

    /// Sends `bytes` to `destination`, possibly waiting until the destination receives them.
    func send(_ bytes: UnsafeRawBufferPointer, to destination: Int, tag: Int) throws

    /// Receives one message of exactly `bytes.count` bytes from `source`.
    func receive(into bytes: UnsafeMutableRawBufferPointer, from source: Int, tag: Int) throws

    /// Sends to `destination` and receives from `source` at the same time, so that a ring of
    /// ranks exchanging with their neighbours cannot deadlock. Buffers must not overlap.
    func sendReceive(send: UnsafeRawBufferPointer, to destination: Int,
                     receive: UnsafeMutableRawBufferPointer, from source: Int, tag: Int) throws

    /// Does what `sendReceive(send:to:receive:from:tag:)` does, but waits for completion by
    /// checking it every `pollIntervalSeconds` and sleeping in between (yielding the CPU when it
    /// is 0), where the blocking form may spin. It is for a thread that shares the CPU with
    /// computation on the same rank.
    func sendReceive(send: UnsafeRawBufferPointer, to destination: Int,
                     receive: UnsafeMutableRawBufferPointer, from source: Int, tag: Int,
                     pollIntervalSeconds: Double) throws

    /// Returns once every rank has called `barrier`.
    func barrier() throws

    /// Copies `root`'s bytes into `bytes` on every other rank. All ranks pass the same count.
    func broadcast(_ bytes: UnsafeMutableRawBufferPointer, root: Int) throws

    /// Gathers equal-size blocks: `received` is `[W, send.count]` bytes, block r from rank r.
    func allgather(_ send: UnsafeRawBufferPointer, into received: UnsafeMutableRawBufferPointer) throws

    /// Gathers blocks of different sizes on every rank. `counts[r]` is rank r's byte count (the same
    /// array on every rank, `send.count == counts[rank]`). Block r lands at offset `counts[0..<r].sum`
    /// of `received`, whose size is `counts.sum`.
    func allgatherv(_ send: UnsafeRawBufferPointer, counts: [Int],
                    into received: UnsafeMutableRawBufferPointer) throws

    /// Gathers blocks of different sizes on `root` only, laid out as in `allgatherv`. `received`
    /// is used on the root and ignored (may be empty) elsewhere.
    func gatherv(_ send: UnsafeRawBufferPointer, counts: [Int],
                 into received: UnsafeMutableRawBufferPointer, root: Int) throws

    /// Exchanges equal-size blocks: `send` and `received` are `[W, blockBytes]`. Block d of `send`
    /// goes to rank d, and block s of `received` comes from rank s.
    func allToAll(_ send: UnsafeRawBufferPointer, into received: UnsafeMutableRawBufferPointer) throws

    /// Exchanges blocks of different sizes. `sendCounts[d]` bytes go to rank d, packed in rank
    /// order in `send`. `receiveCounts[s]` bytes come from rank s, packed in rank order in `received`.
    /// `receiveCounts[s]` on this rank must equal `sendCounts[rank]` on rank s.
    func allToAllV(_ send: UnsafeRawBufferPointer, sendCounts: [Int],
                   into received: UnsafeMutableRawBufferPointer, receiveCounts: [Int]) throws

    /// Sums `values` over all ranks in place (divided by W when `average`), with the library's
    /// own algorithm: `MPI_Allreduce` under MPI, a plain rank-order sum in process. It is the
    /// reference that `RingAllreduce` is compared and benchmarked against.
    func allreduceBuiltin(_ values: UnsafeMutableBufferPointer<Float>, average: Bool) throws

    /// Ends the whole job. Under MPI this is `MPI_Abort` with `code`. In process it marks the
    /// world aborted, so every peer that waits or later communicates throws
    /// `CommunicationError.aborted`, and parks the calling thread for good.
    func abort(message: String, code: Int32) -> Never
}
