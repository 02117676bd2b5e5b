import Communication
import Foundation

/// The outcome of work done on rank 0 alone, as broadcast to the other ranks.
private enum RootOutcome<Value: Codable>: Codable {
    case success(Value)
    case failure(String)
}

/// An error that every rank raises at the same point, so the job can stop without `MPI_Abort`
/// and only rank 0 needs to report it: work that rank 0 did alone failed, or every rank found
/// the same fault (an invalid config). A copy that carries the original error says so with
/// `underlying`; the other copies carry its message.
public struct CollectiveFailure: Error, CustomStringConvertible {
    public let message: String
    /// The error this rank caught itself; nil where the message came from another rank.
    public let underlying: Error?
    /// The rank whose error the message is.
    public let failedRank: Int

    public init(message: String, underlying: Error?, failedRank: Int = 0) {
        self.message = message
        self.underlying = underlying
        self.failedRank = failedRank
    }

    public var description: String {
        underlying.map { String(describing: $0) } ?? "rank \(failedRank) failed: \(message)"
    }
}

extension Communicator {
    /// Runs `work` on rank 0 only and gives its result to every rank.
    ///
    /// Rank 0 always broadcasts an outcome, success or failure, so the other ranks never wait
    /// for a broadcast that will not come: when `work` throws, every rank throws `CollectiveFailure`
    /// with its message.
    public func runOnRoot<Value: Codable>(_ work: () throws -> Value) throws -> Value {
        var payload = [UInt8]()
        var rootError: Error?
        if rank == 0 {
            let outcome: RootOutcome<Value>
            do {
                outcome = .success(try work())
            } catch {
                rootError = error
                outcome = .failure(String(describing: error))
            }
            payload = Array(try JSONEncoder().encode(outcome))
        }
        try broadcast(&payload, root: 0)
        if let rootError {
            throw CollectiveFailure(message: String(describing: rootError), underlying: rootError)
        }
        switch try JSONDecoder().decode(RootOutcome<Value>.self, from: Data(payload)) {
        case .success(let value):
            return value
        case .failure(let message):
            throw CollectiveFailure(message: message, underlying: nil)
        }
    }
}
