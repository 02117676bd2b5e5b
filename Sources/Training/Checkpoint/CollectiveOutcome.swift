import Communication

extension Communicator {
    /// Runs `work` on every rank and makes every rank fail when any rank's `work` threw, so no
    /// rank goes on to a collective that a failed rank will not join.
    ///
    /// A failed rank throws `CollectiveFailure` carrying its own error; the other ranks throw
    /// `CollectiveFailure` with the message of the lowest failed rank. Collective calls inside
    /// `work` must not throw on one rank only.
    func runOnEveryRank<Value>(_ work: () throws -> Value) throws -> Value {
        var value: Value?
        var localError: Error?
        do {
            value = try work()
        } catch {
            localError = error
        }
        let failed = try allgather(localError == nil ? UInt8(0) : UInt8(1))
        guard let firstFailed = failed.firstIndex(of: 1) else { return value! }

        var message = Array((localError.map { String(describing: $0) } ?? "").utf8)
        try broadcast(&message, root: firstFailed)
        let text = String(decoding: message, as: UTF8.self)
        throw CollectiveFailure(message: text, underlying: localError, failedRank: firstFailed)
    }
}
