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
        var length = [Int64(payload.count)]
        try broadcastArray(&length, root: 0)
        if rank != 0 {
            payload = [UInt8](repeating: 0, count: Int(length[0]))
        }
        try broadcastArray(&payload, root: 0)
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

    /// Broadcasts `array` from `root`; every rank passes an array of the same count.
    public func broadcastArray<Element: BitwiseCopyable>(_ array: inout [Element], root: Int) throws {
        try array.withUnsafeMutableBytes { bytes in
            try broadcast(bytes, root: root)
        }
    }

    /// Returns every rank's `value`, in rank order.
    public func allgatherValue<Element: BitwiseCopyable>(_ value: Element) throws -> [Element] {
        var local = [value]
        var all = [Element](repeating: value, count: worldSize)
        try local.withUnsafeMutableBytes { send in
            try all.withUnsafeMutableBytes { received in
                try allgather(UnsafeRawBufferPointer(send), into: received)
            }
        }
        return all
    }

    /// Gathers `values` from every rank onto `root`, in rank order; `counts[r]` is rank r's element
    /// count. Returns the gathered array on `root` and nil elsewhere.
    public func gatherArray<Element: BitwiseCopyable>(_ values: [Element], counts: [Int], root: Int) throws -> [Element]? {
        precondition(counts[rank] == values.count, "rank \(rank) sends \(values.count) elements but counts say \(counts[rank])")
        let stride = MemoryLayout<Element>.stride
        let total = counts.reduce(0, +)
        var gathered = [UInt8](repeating: 0, count: rank == root ? total * stride : 0)
        try values.withUnsafeBytes { send in
            try gathered.withUnsafeMutableBytes { received in
                try gatherv(send, counts: counts.map { $0 * stride }, into: received, root: root)
            }
        }
        guard rank == root else { return nil }
        return gathered.withUnsafeBytes { Array($0.bindMemory(to: Element.self)) }
    }
}
