import Foundation

/// The threads of one rank for its element-wise, gather and scatter kernels and for OpenBLAS.
///
/// A rank uses one thread by default, because under mpirun every rank has a core of its own.
/// With fewer ranks than cores (`train.threads` > 1), the large kernels split their range into
/// one contiguous chunk per thread. Every kernel computes each element the same way whichever
/// chunk it falls in, so results do not depend on the thread count.
public enum ComputeThreads {
    // Written only under `lock` and before kernels run; read by kernels without it.
    nonisolated(unsafe) private static var threadCount = 1
    nonisolated(unsafe) private static var configured = false
    private static let lock = NSLock()

    /// The number of threads kernels split their work over.
    public static var count: Int { threadCount }

    /// Sets the thread count of the kernels and of OpenBLAS. Call before training starts. The
    /// ranks of an in-process world each call it with the same value, so a call that changes
    /// nothing returns without touching OpenBLAS.
    public static func configure(threads: Int) {
        precondition(threads >= 1, "thread count must be positive, got \(threads)")
        lock.lock()
        defer { lock.unlock() }
        guard !configured || threads != threadCount else { return }
        threadCount = threads
        configured = true
        BLAS.setThreadCount(threads)
    }

    /// Calls `body` on chunks that cover `0 ..< count`, in parallel when there is more than one
    /// thread and each chunk gets at least `minimumChunk` items. Chunk bounds are multiples of
    /// `alignment`, except the last.
    @inline(__always)
    public static func forEachChunk(count: Int, minimumChunk: Int = 16_384, alignment: Int = 8,
                                    _ body: (Range<Int>) -> Void) {
        let chunks = min(threadCount, count / max(minimumChunk, 1))
        guard chunks > 1 else {
            body(0..<count)
            return
        }
        let perChunk = (count / chunks + alignment - 1) / alignment * alignment
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = min(chunk * perChunk, count)
            let end = chunk == chunks - 1 ? count : min(start + perChunk, count)
            body(start..<end)
        }
    }
}
