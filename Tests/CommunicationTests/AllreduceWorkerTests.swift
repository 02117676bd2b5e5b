import XCTest
@testable import Communication

/// The worker thread reduces submitted buffers bit for bit as the calling thread's ring does,
/// reports its busy time, and passes on the error of a failed exchange.
final class AllreduceWorkerTests: XCTestCase {
    /// Element counts of the buffers each rank submits, chosen to give empty, short and
    /// multi-bucket buffers with a 64-byte (16-float) bucket.
    static let counts = [5, 0, 40, 1, 16, 17]

    static func values(rank: Int, buffer: Int, count: Int) -> [Float] {
        (0..<count).map { RingAllreduceTests.input(rank: rank, index: 1000 * buffer + $0, seed: 41) }
    }

    /// Allocates one buffer per entry of `counts`, filled with `rank`'s values; the caller
    /// deallocates them.
    static func makeBuffers(rank: Int) -> [UnsafeMutableBufferPointer<Float>] {
        counts.enumerated().map { index, count in
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
            _ = buffer.initialize(from: values(rank: rank, buffer: index, count: count))
            return buffer
        }
    }

    /// Returns the buffers of `makeBuffers` reduced by a ring on the calling thread.
    static func ringReference(_ communicator: Communicator, average: Bool) throws -> [[Float]] {
        let ring = RingAllreduce(communicator: communicator, bucketBytes: 64)
        return try counts.enumerated().map { index, count in
            var values = values(rank: communicator.rank, buffer: index, count: count)
            try values.withUnsafeMutableBufferPointer { try ring.allreduce($0, average: average) }
            return values
        }
    }

    func testMatchesCallingThreadRing() throws {
        for worldSize in [1, 2, 3] {
            let outputs = try InProcessWorld.run(worldSize: worldSize, timeoutSeconds: 60) { communicator -> ([[Float]], [[Float]], Double) in
                let rank = communicator.rank
                let buffers = Self.makeBuffers(rank: rank)
                defer { buffers.forEach { $0.deallocate() } }
                let worker = AllreduceWorker(communicator: communicator, bucketBytes: 64)
                for buffer in buffers {
                    worker.submit(buffer, average: true)
                }
                try worker.waitUntilIdle()
                let fromWorker = buffers.map { Array($0) }

                let fromRing = try Self.ringReference(communicator, average: true)
                return (fromWorker, fromRing, worker.busySeconds)
            }
            for (rank, output) in outputs.enumerated() {
                for buffer in Self.counts.indices {
                    XCTAssertEqual(output.0[buffer].map(\.bitPattern), output.1[buffer].map(\.bitPattern),
                                   "W=\(worldSize) rank \(rank) buffer \(buffer)")
                }
                XCTAssertGreaterThanOrEqual(output.2, 0, "W=\(worldSize) rank \(rank) busy seconds")
            }
        }
    }

    /// A worker released right after `submit`, with no `waitUntilIdle()`, must finish its jobs
    /// before the release returns: the buffers then hold the reduced values, and the calling
    /// thread may use the communicator again at once.
    func testReleaseFinishesSubmittedBuffers() throws {
        for worldSize in [1, 2, 3] {
            let outputs = try InProcessWorld.run(worldSize: worldSize, timeoutSeconds: 60) { communicator -> ([[Float]], [[Float]]) in
                let rank = communicator.rank
                let buffers = Self.makeBuffers(rank: rank)
                defer { buffers.forEach { $0.deallocate() } }
                do {
                    let worker = AllreduceWorker(communicator: communicator, bucketBytes: 64)
                    for buffer in buffers {
                        worker.submit(buffer, average: false)
                    }
                }
                let fromWorker = buffers.map { Array($0) }

                let fromRing = try Self.ringReference(communicator, average: false)
                return (fromWorker, fromRing)
            }
            for (rank, output) in outputs.enumerated() {
                for buffer in Self.counts.indices {
                    XCTAssertEqual(output.0[buffer].map(\.bitPattern), output.1[buffer].map(\.bitPattern),
                                   "W=\(worldSize) rank \(rank) buffer \(buffer)")
                }
            }
        }
    }

    func testAverageMatchesFloat64() throws {
        let worldSize = 3
        let count = 50
        let outputs = try InProcessWorld.run(worldSize: worldSize, timeoutSeconds: 60) { communicator -> [Float] in
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
            defer { buffer.deallocate() }
            _ = buffer.initialize(from: Self.values(rank: communicator.rank, buffer: 0, count: count))
            let worker = AllreduceWorker(communicator: communicator, bucketBytes: 64)
            worker.submit(buffer, average: true)
            try worker.waitUntilIdle()
            return Array(buffer)
        }
        for index in 0..<count {
            var sum = 0.0
            var absoluteSum = 0.0
            for rank in 0..<worldSize {
                let value = Double(Self.values(rank: rank, buffer: 0, count: count)[index])
                sum += value
                absoluteSum += abs(value)
            }
            let tolerance = Double(Float.ulpOfOne) * Double(worldSize + 1) * absoluteSum / Double(worldSize)
            XCTAssertEqual(Double(outputs[0][index]), sum / Double(worldSize), accuracy: tolerance, "index \(index)")
        }
    }

    func testWaitWithNothingSubmittedReturns() throws {
        let busy = try InProcessWorld.run(worldSize: 2, timeoutSeconds: 60) { communicator -> Double in
            let worker = AllreduceWorker(communicator: communicator, bucketBytes: 64)
            try worker.waitUntilIdle()
            return worker.busySeconds
        }
        XCTAssertEqual(busy, [0, 0])
    }

    func testPeerFailureIsThrownByWait() {
        // Rank 1 fails before it exchanges anything, so rank 0's worker finds the world aborted.
        struct Planned: Error {}
        let outcomes = ResultBox()
        XCTAssertThrowsError(try InProcessWorld.run(worldSize: 2, timeoutSeconds: 60) { communicator in
            guard communicator.rank == 0 else { throw Planned() }
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 8)
            defer { buffer.deallocate() }
            buffer.initialize(repeating: 1)
            let worker = AllreduceWorker(communicator: communicator, bucketBytes: 64)
            worker.submit(buffer, average: true)
            do {
                try worker.waitUntilIdle()
                outcomes.set("returned")
            } catch {
                outcomes.set(String(describing: error))
            }
            // A second wait must report the same failure instead of returning.
            do {
                try worker.waitUntilIdle()
                outcomes.set(outcomes.value + "; second wait returned")
            } catch {}
        })
        XCTAssertTrue(outcomes.value.contains("abort"), "rank 0's wait: \(outcomes.value)")
        XCTAssertFalse(outcomes.value.contains("second wait returned"), outcomes.value)
    }
}

/// A string written by a rank thread and read by the test after `InProcessWorld.run` returns.
private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = ""

    var value: String {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }

    func set(_ text: String) {
        lock.lock()
        stored = text
        lock.unlock()
    }
}
