import Dispatch

/// Runs independent pieces of the preparation on the machine's cores with Dispatch.
///
/// Preparation runs before training starts, on rank 0 only while the other ranks wait, so the
/// cores it uses are otherwise idle.
enum ParallelWork {
    /// Returns `body(i)` for every i in `0 ..< count`, running the calls concurrently. Errors
    /// are returned in place, so the caller can rethrow the first one in index order, the error
    /// a sequential loop would have thrown.
    static func map<T>(count: Int, _ body: (Int) throws -> T) -> [Result<T, Error>] {
        let results = UnsafeMutableBufferPointer<Result<T, Error>?>.allocate(capacity: count)
        results.initialize(repeating: nil)
        defer { results.deallocate() }

        // Each iteration writes only its own slot, so the slots need no lock.
        DispatchQueue.concurrentPerform(iterations: count) { index in
            results[index] = Result { try body(index) }
        }
        return results.map { $0! }
    }

    /// Runs `first` and `second` concurrently and returns both values, or throws the error of
    /// `first`, else that of `second`.
    static func both<A, B>(_ first: () throws -> A, _ second: () throws -> B) throws -> (A, B) {
        var a: Result<A, Error>?
        var b: Result<B, Error>?
        // Iteration 0 writes only `a` and iteration 1 only `b`, and both end before the return.
        DispatchQueue.concurrentPerform(iterations: 2) { index in
            if index == 0 {
                a = Result { try first() }
            } else {
                b = Result { try second() }
            }
        }
        return (try a!.get(), try b!.get())
    }

    /// Runs `first` and `second` concurrently and returns both values.
    static func concurrently<A, B>(_ first: () -> A, _ second: () -> B) -> (A, B) {
        var a: A?
        var b: B?
        // Iteration 0 writes only `a` and iteration 1 only `b`, and both end before the return.
        DispatchQueue.concurrentPerform(iterations: 2) { index in
            if index == 0 {
                a = first()
            } else {
                b = second()
            }
        }
        return (a!, b!)
    }
}
