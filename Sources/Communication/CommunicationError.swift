/// Failures of communication that the caller did not cause by misuse.
public enum CommunicationError: Error, Equatable, CustomStringConvertible {
    /// An MPI call returned `code`. `message` is MPI's error string.
    case mpi(call: String, rank: Int, code: Int32, message: String)
    /// MPI was already finalized in this process, so it cannot be used again.
    case finalized(rank: Int)
    /// A message has more bytes than MPI's 32-bit counts can describe.
    case messageTooLarge(call: String, rank: Int, bytes: Int)
    /// A received message's size differs from the receive buffer's.
    case sizeMismatch(operation: String, rank: Int, peer: Int, expectedBytes: Int, actualBytes: Int)
    /// An in-process rank waited longer than the world's timeout for `peer`.
    case timedOut(operation: String, rank: Int, peer: Int, tag: Int, seconds: Double)
    /// Rank `by` called `abort`, or failed, and so ended the job.
    case aborted(by: Int, message: String)

    public var description: String {
        switch self {
        case let .mpi(call, rank, code, message):
            return "\(call) failed on rank \(rank) with MPI error \(code): \(message)"
        case let .finalized(rank):
            return "MPI is already finalized on rank \(rank); create the communicator once and finalize it at exit"
        case let .messageTooLarge(call, rank, bytes):
            return "\(call) on rank \(rank): \(bytes) bytes exceed MPI's count limit of \(Int32.max); "
                + "split the message"
        case let .sizeMismatch(operation, rank, peer, expectedBytes, actualBytes):
            return "\(operation) on rank \(rank) from rank \(peer): expected \(expectedBytes) bytes, "
                + "received \(actualBytes); the ranks disagree on the message size"
        case let .timedOut(operation, rank, peer, tag, seconds):
            return "\(operation) on rank \(rank) timed out after \(seconds) s waiting for rank \(peer) "
                + "(tag \(tag)); the peer may be stuck, finished, or calling a different operation"
        case let .aborted(rank, message):
            return "job aborted by rank \(rank): \(message)"
        }
    }
}
