import Foundation
import XCTest
@testable import Communication

final class InProcessCommunicatorTests: XCTestCase {
    func testReceiveKeepsSendOrderPerTag() throws {
        let results = try InProcessWorld.run(worldSize: 2, timeoutSeconds: 30) { communicator -> [[Int32]] in
            if communicator.rank == 0 {
                try communicator.send([Int32(1), 2], to: 1, tag: 3)
                try communicator.send([Int32(3)], to: 1, tag: 3)
                try communicator.send([Int32(9), 9, 9], to: 1, tag: 4)
                return []
            }
            let first: [Int32] = try communicator.receive(count: 2, from: 0, tag: 3)
            let second: [Int32] = try communicator.receive(count: 1, from: 0, tag: 3)
            let other: [Int32] = try communicator.receive(count: 3, from: 0, tag: 4)
            return [first, second, other]
        }
        XCTAssertEqual(results[1][0], [1, 2])
        XCTAssertEqual(results[1][1], [3])
        XCTAssertEqual(results[1][2], [9, 9, 9])
    }

    func testSendWaitsForMatchingReceive() {
        // Rank 1 receives tag 4 before tag 3, so rank 0's first send never completes, as with a large
        // MPI message. The in-process world reports it even for tiny messages.
        XCTAssertThrowsError(try InProcessWorld.run(worldSize: 2, timeoutSeconds: 0.2) { communicator -> Int in
            if communicator.rank == 0 {
                try communicator.send([Int32(1)], to: 1, tag: 3)
                try communicator.send([Int32(2)], to: 1, tag: 4)
            } else {
                let _: [Int32] = try communicator.receive(count: 1, from: 0, tag: 4)
                let _: [Int32] = try communicator.receive(count: 1, from: 0, tag: 3)
            }
            return 0
        }) { error in
            guard case let .timedOut(_, rank, peer, tag, _)? = error as? CommunicationError else {
                return XCTFail("expected a timeout, got \(error)")
            }
            XCTAssertEqual([rank, peer], rank == 0 ? [0, 1] : [1, 0])
            XCTAssertEqual(tag, rank == 0 ? 3 : 4)
        }
    }

    func testSendReceiveRingDoesNotDeadlock() throws {
        for worldSize in 1...5 {
            let results = try InProcessWorld.run(worldSize: worldSize, timeoutSeconds: 30) { communicator -> [Int64] in
                let right = (communicator.rank + 1) % worldSize
                let left = (communicator.rank + worldSize - 1) % worldSize
                return try communicator.sendReceive([Int64(communicator.rank)], to: right, receiveCount: 1,
                                                    from: left, tag: 0)
            }
            for rank in 0..<worldSize {
                XCTAssertEqual(results[rank], [Int64((rank + worldSize - 1) % worldSize)], "W=\(worldSize) rank \(rank)")
            }
        }
    }

    func testBroadcastReplacesArrayOfAnyCount() throws {
        let results = try InProcessWorld.run(worldSize: 4) { communicator -> [Float] in
            var values: [Float] = communicator.rank == 2 ? [1.5, -2, 3] : [Float](repeating: 7, count: communicator.rank)
            try communicator.broadcast(&values, root: 2)
            return values
        }
        for rank in 0..<4 {
            XCTAssertEqual(results[rank], [1.5, -2, 3], "rank \(rank)")
        }
    }

    func testAllgatherValuesInRankOrder() throws {
        let results = try InProcessWorld.run(worldSize: 3) { communicator in
            try communicator.allgather(Int64(10 * communicator.rank + 1))
        }
        for rank in 0..<3 {
            XCTAssertEqual(results[rank], [1, 11, 21], "rank \(rank)")
        }
    }

    func testAllgathervVariableCounts() throws {
        let results = try InProcessWorld.run(worldSize: 4) { communicator -> [[Int32]] in
            let values = (0..<communicator.rank).map { Int32(100 * communicator.rank + $0) }
            return try communicator.allgatherv(values)
        }
        let expected: [[Int32]] = [[], [100], [200, 201], [300, 301, 302]]
        for rank in 0..<4 {
            XCTAssertEqual(results[rank], expected, "rank \(rank)")
        }
    }

    func testGatherBytesOnRootOnly() throws {
        let results = try InProcessWorld.run(worldSize: 3) { communicator in
            try communicator.gatherBytes(Array("rank\(communicator.rank)".utf8), toRoot: 1)
        }
        XCTAssertEqual(results[0], [])
        XCTAssertEqual(results[1].map { String(decoding: $0, as: UTF8.self) }, ["rank0", "rank1", "rank2"])
        XCTAssertEqual(results[2], [])
    }

    func testAllToAllVRoutesBlocks() throws {
        // Rank s sends to rank d a block of (s + d) % 3 values, each 10·s + d.
        let worldSize = 4
        let results = try InProcessWorld.run(worldSize: worldSize) { communicator -> [[Int64]] in
            let source = communicator.rank
            let blocks = (0..<worldSize).map { destination in
                [Int64](repeating: Int64(10 * source + destination), count: (source + destination) % 3)
            }
            return try communicator.allToAllV(blocks)
        }
        for destination in 0..<worldSize {
            for source in 0..<worldSize {
                let expected = [Int64](repeating: Int64(10 * source + destination), count: (source + destination) % 3)
                XCTAssertEqual(results[destination][source], expected, "from \(source) to \(destination)")
            }
        }
    }

    func testAllToAllOneValuePerRank() throws {
        let results = try InProcessWorld.run(worldSize: 3) { communicator in
            try communicator.allToAll((0..<3).map { Int32(10 * communicator.rank + $0) })
        }
        XCTAssertEqual(results[0], [0, 10, 20])
        XCTAssertEqual(results[1], [1, 11, 21])
        XCTAssertEqual(results[2], [2, 12, 22])
    }

    func testBarrierWaitsForAllRanks() throws {
        let worldSize = 4
        let lock = NSLock()
        var arrived = 0
        let seen = try InProcessWorld.run(worldSize: worldSize) { communicator -> Int in
            // Later ranks arrive later, so a barrier that lets rank 0 through early would show it.
            Thread.sleep(forTimeInterval: 0.02 * Double(communicator.rank))
            lock.lock()
            arrived += 1
            lock.unlock()
            try communicator.barrier()
            lock.lock()
            defer { lock.unlock() }
            return arrived
        }
        for rank in 0..<worldSize {
            XCTAssertEqual(seen[rank], worldSize, "rank \(rank)")
        }
    }

    func testAllreduceBuiltinSumsInRankOrder() throws {
        let results = try InProcessWorld.run(worldSize: 3) { communicator -> [Float] in
            var values: [Float] = [1e8, Float(communicator.rank), -1]
            try values.withUnsafeMutableBufferPointer { try communicator.allreduceBuiltin($0, average: false) }
            return values
        }
        let expectedFirst: Float = (1e8 as Float) + 1e8 + 1e8
        for rank in 0..<3 {
            XCTAssertEqual(results[rank], [expectedFirst, 3, -3], "rank \(rank)")
        }
    }

    func testScalarReductions() throws {
        let results = try InProcessWorld.run(worldSize: 4) { communicator -> [Double] in
            let rank = communicator.rank
            return [Double(try communicator.allreduceSum(rank + 1)),
                    Double(try communicator.allreduceMax(10 - rank)),
                    Double(try communicator.allreduceMin(10 - rank)),
                    try communicator.allreduceSum(0.5 * Double(rank)),
                    try communicator.allreduceAnd(rank != 2) ? 1 : 0]
        }
        for rank in 0..<4 {
            XCTAssertEqual(results[rank], [10, 10, 7, 3, 0], "rank \(rank)")
        }
    }

    func testAbortMakesBlockedPeersThrow() {
        let lock = NSLock()
        var peerErrors: [Int: CommunicationError] = [:]
        XCTAssertThrowsError(try InProcessWorld.run(worldSize: 3) { communicator -> Int in
            if communicator.rank == 0 {
                Thread.sleep(forTimeInterval: 0.05)
                communicator.abort(message: "test abort", code: 3)
            }
            do {
                let _: [Float] = try communicator.receive(count: 1, from: 0, tag: 1)
            } catch let error as CommunicationError {
                lock.lock()
                peerErrors[communicator.rank] = error
                lock.unlock()
                throw error
            }
            return 0
        }) { error in
            XCTAssertEqual(error as? CommunicationError, .aborted(by: 0, message: "test abort"))
        }
        XCTAssertEqual(peerErrors[1], .aborted(by: 0, message: "test abort"))
        XCTAssertEqual(peerErrors[2], .aborted(by: 0, message: "test abort"))
    }

    func testFailingRankReleasesPeers() {
        struct Failure: Error {}
        XCTAssertThrowsError(try InProcessWorld.run(worldSize: 2) { communicator -> Int in
            if communicator.rank == 1 {
                throw Failure()
            }
            try communicator.barrier()
            return 0
        }) { error in
            XCTAssertTrue(error is Failure, "got \(error)")
        }
    }

    func testReceiveTimeoutNamesRanks() {
        XCTAssertThrowsError(try InProcessWorld.run(worldSize: 2, timeoutSeconds: 0.2) { communicator -> Int in
            if communicator.rank == 1 {
                let _: [UInt8] = try communicator.receive(count: 4, from: 0, tag: 5)
            }
            return 0
        }) { error in
            XCTAssertEqual(error as? CommunicationError,
                           .timedOut(operation: "receive", rank: 1, peer: 0, tag: 5, seconds: 0.2))
        }
    }

    func testReceiveSizeMismatchThrows() {
        XCTAssertThrowsError(try InProcessWorld.run(worldSize: 2, timeoutSeconds: 10) { communicator -> Int in
            if communicator.rank == 0 {
                try communicator.send([UInt8](repeating: 1, count: 3), to: 1, tag: 0)
            } else {
                let _: [UInt8] = try communicator.receive(count: 4, from: 0, tag: 0)
            }
            return 0
        }) { error in
            XCTAssertEqual(error as? CommunicationError,
                           .sizeMismatch(operation: "receive", rank: 1, peer: 0, expectedBytes: 4, actualBytes: 3))
        }
    }
}
