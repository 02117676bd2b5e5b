import Foundation

/// A thread that runs ring allreduces on the buffers handed to it, one at a time in the order
/// submitted, so that the submitting thread can keep computing while finished gradients travel.
///
/// Thread rule, which makes one communicator safe to share between two threads: from the first
/// `submit` until `waitUntilIdle()` returns, only the worker thread calls the communicator. The
/// submitting thread makes no call on it in that window, including through another
/// `RingAllreduce`, an embedding exchange or a collective. Outside the window the worker thread
/// sleeps and makes no call. The communicator must allow calls from more than one thread
/// (`supportsSerializedCalls`), and every rank must submit buffers of the same counts in the
/// same order, as for `RingAllreduce`.
///
/// A failed allreduce (an MPI error, an aborted peer) is kept: the worker drops the buffers
/// still queued, because the ranks no longer agree on what is in flight, and every later
/// `waitUntilIdle()` throws the same error.
public final class AllreduceWorker {
    /// Default wait between checks of a pending exchange: 0, which yields the core between
    /// checks instead of sleeping. Open MPI moves a large message over shared memory in
    /// fragments, and a fragment moves only when a call on the rank drives progress. So a 50 µs
    /// sleep between checks made a 1 MiB bucket take over 1 ms here. Yielding keeps the transfer
    /// moving and lets backward run when it is runnable (after 2,000 polls the wait sleeps 20 µs).
    public static let defaultPollIntervalSeconds = 0.0

    public let communicator: Communicator
    private let state: WorkerState

    /// Starts the worker thread. The thread ends when the worker is released, after the buffers
    /// already submitted are reduced.
    /// - Parameters:
    ///   - bucketBytes: fusion bucket size of the worker's `RingAllreduce`; a submitted buffer
    ///     longer than one bucket is reduced one bucket at a time.
    ///   - tag: point-to-point tag of the ring. The worker may share the tag of another ring
    ///     over the same communicator, because the thread rule keeps their messages apart in time.
    ///   - pollIntervalSeconds: the ring's wait between checks of an exchange, sleeping in
    ///     between; nil waits in the communicator's blocking call, which may spin.
    public init(communicator: Communicator, bucketBytes: Int, tag: Int = RingAllreduce.defaultTag,
                pollIntervalSeconds: Double? = AllreduceWorker.defaultPollIntervalSeconds) {
        precondition(communicator.supportsSerializedCalls,
                     "AllreduceWorker needs a communicator that accepts calls from any thread (MPI_THREAD_SERIALIZED)")
        self.communicator = communicator
        let ring = RingAllreduce(communicator: communicator, bucketBytes: bucketBytes, tag: tag)
        ring.pollIntervalSeconds = pollIntervalSeconds
        state = WorkerState(ring: ring)
        let state = self.state
        let thread = Thread { state.run() }
        thread.name = "allreduce worker, rank \(communicator.rank)/\(communicator.worldSize)"
        thread.start()
    }

    /// Stops the thread and waits until it has finished every submitted buffer, so that no job
    /// outlives the worker and touches memory its owner frees next. Dropping a worker without
    /// `waitUntilIdle()` therefore still completes its allreduces, which the other ranks expect.
    deinit {
        state.stopAndWait()
    }

    /// Queues an in-place allreduce of `buffer` (a mean over ranks when `average`) and returns
    /// at once. The memory must stay allocated, and the caller must neither read nor write it,
    /// until `waitUntilIdle()` returns.
    public func submit(_ buffer: UnsafeMutableBufferPointer<Float>, average: Bool) {
        state.enqueue(WorkerState.Job(buffer: buffer, average: average))
    }

    /// Waits until every submitted buffer is reduced, then returns; afterwards the caller may use
    /// the buffers and the communicator again. Throws the error of the first failed allreduce.
    public func waitUntilIdle() throws {
        try state.waitUntilIdle()
    }

    /// Seconds the worker thread has spent reducing buffers since it started, summed over all
    /// submitted buffers. Read it after `waitUntilIdle()` for a value that covers every buffer.
    public var busySeconds: Double { state.busySeconds }
}

/// The queue shared by an `AllreduceWorker` and its thread.
///
/// `@unchecked Sendable`: `jobs`, `isRunningJob`, `failure`, `totalBusySeconds`, `isStopping`
/// and `hasExited` are read and written only while holding `condition`. `ring` is used only by the worker
/// thread, and only for the jobs it has taken from the queue.
private final class WorkerState: @unchecked Sendable {
    /// One buffer to reduce. `@unchecked Sendable`: the submitting thread leaves the memory alone
    /// until the job is finished, by the thread rule of `AllreduceWorker`.
    struct Job: @unchecked Sendable {
        let buffer: UnsafeMutableBufferPointer<Float>
        let average: Bool
    }

    private let ring: RingAllreduce
    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var isRunningJob = false
    private var failure: Error?
    private var totalBusySeconds = 0.0
    private var isStopping = false
    private var hasExited = false

    init(ring: RingAllreduce) {
        self.ring = ring
    }

    var busySeconds: Double {
        condition.lock()
        defer { condition.unlock() }
        return totalBusySeconds
    }

    func enqueue(_ job: Job) {
        condition.lock()
        defer { condition.unlock() }
        precondition(!isStopping, "submit after the allreduce worker stopped")
        jobs.append(job)
        condition.broadcast()
    }

    func waitUntilIdle() throws {
        condition.lock()
        defer { condition.unlock() }
        while !jobs.isEmpty || isRunningJob {
            condition.wait()
        }
        if let failure { throw failure }
    }

    /// Tells the thread to end once the queue is empty, and waits until it has.
    func stopAndWait() {
        condition.lock()
        defer { condition.unlock() }
        isStopping = true
        condition.broadcast()
        while !hasExited {
            condition.wait()
        }
    }

    /// Runs the worker thread: takes the oldest job, reduces it outside the lock, and sleeps
    /// while the queue is empty, until `stopAndWait()` finds the queue empty.
    func run() {
        condition.lock()
        while true {
            while jobs.isEmpty && !isStopping {
                condition.wait()
            }
            if jobs.isEmpty { break }
            let job = jobs.removeFirst()
            if failure != nil {
                condition.broadcast()
                continue
            }
            isRunningJob = true
            condition.unlock()

            let start = DispatchTime.now().uptimeNanoseconds
            var jobError: Error?
            do {
                try ring.allreduce(job.buffer, average: job.average)
            } catch {
                jobError = error
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9

            condition.lock()
            isRunningJob = false
            totalBusySeconds += seconds
            if failure == nil, let jobError {
                failure = jobError
            }
            condition.broadcast()
        }
        hasExited = true
        condition.broadcast()
        condition.unlock()
    }
}
