import XCTest
@testable import Communication

final class RingAllreduceTests: XCTestCase {
    /// Rank r's value at index i: a seeded pseudo-random float with magnitudes from 1e-3 to 1e3, so
    /// that the order of additions changes the rounded result.
    static func input(rank: Int, index: Int, seed: UInt64) -> Float {
        var state = seed &+ UInt64(rank) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index) &* 0xBF58_476D_1CE4_E5B9
        state = (state ^ (state >> 30)) &* 0xBF58_476D_1CE4_E5B9
        state = (state ^ (state >> 27)) &* 0x94D0_49BB_1331_11EB
        state ^= state >> 31
        let unit = Float(state >> 40) / Float(1 << 24)
        let magnitude = [Float(1e-3), 1, 1e3][Int(state % 3)]
        return (2 * unit - 1) * magnitude
    }

    /// Float64 sum over ranks, and the sum of absolute values that bounds the rounding error.
    static func reference(worldSize: Int, count: Int, seed: UInt64) -> (sum: [Double], absoluteSum: [Double]) {
        var sum = [Double](repeating: 0, count: count)
        var absoluteSum = [Double](repeating: 0, count: count)
        for rank in 0..<worldSize {
            for index in 0..<count {
                let value = Double(input(rank: rank, index: index, seed: seed))
                sum[index] += value
                absoluteSum[index] += abs(value)
            }
        }
        return (sum, absoluteSum)
    }

    /// Runs the single-buffer ring on every rank and returns each rank's result.
    static func ringResults(worldSize: Int, count: Int, bucketBytes: Int, average: Bool, seed: UInt64) throws -> [[Float]] {
        try InProcessWorld.run(worldSize: worldSize, timeoutSeconds: 60) { communicator -> [Float] in
            var values = (0..<count).map { input(rank: communicator.rank, index: $0, seed: seed) }
            let ring = RingAllreduce(communicator: communicator, bucketBytes: bucketBytes)
            try values.withUnsafeMutableBufferPointer { try ring.allreduce($0, average: average) }
            return values
        }
    }

    func assertClose(_ results: [[Float]], worldSize: Int, average: Bool, seed: UInt64, _ label: String) {
        let count = results[0].count
        let (sum, absoluteSum) = Self.reference(worldSize: worldSize, count: count, seed: seed)
        let divisor = average ? Double(worldSize) : 1
        var largestError = 0.0
        var worstIndex = -1
        for index in 0..<count {
            // W−1 float additions in any order, plus the division, round by less than (W+1)·ε·Σ|x|.
            let tolerance = Double(Float.ulpOfOne) * Double(worldSize + 1) * absoluteSum[index] / divisor
            let error = abs(Double(results[0][index]) - sum[index] / divisor)
            if error > tolerance && error - tolerance > largestError {
                largestError = error - tolerance
                worstIndex = index
            }
        }
        XCTAssertEqual(worstIndex, -1, "\(label): index \(worstIndex) exceeds its tolerance by \(largestError)")
    }

    func assertBitIdentical(_ results: [[Float]], _ label: String) {
        for rank in 1..<results.count {
            let firstDifference = results[0].indices.first { results[rank][$0].bitPattern != results[0][$0].bitPattern }
            XCTAssertNil(firstDifference, "\(label): rank \(rank) differs from rank 0 at this index")
        }
    }

    func testSumMatchesFloat64ForEdgeLengths() throws {
        for worldSize in 1...5 {
            let lengths = Set([0, 1, max(worldSize - 1, 0), worldSize, worldSize + 1, 7 * worldSize + 3, 1000])
            for count in lengths.sorted() {
                let seed = UInt64(100 * worldSize + count)
                let label = "W=\(worldSize) L=\(count) seed=\(seed)"
                let results = try Self.ringResults(worldSize: worldSize, count: count,
                                                   bucketBytes: RingAllreduce.defaultBucketBytes,
                                                   average: false, seed: seed)
                assertClose(results, worldSize: worldSize, average: false, seed: seed, label)
                assertBitIdentical(results, label)
            }
        }
    }

    func testAverageMatchesFloat64() throws {
        for worldSize in [1, 3, 4] {
            let seed = UInt64(7 + worldSize)
            let label = "W=\(worldSize) seed=\(seed)"
            let results = try Self.ringResults(worldSize: worldSize, count: 257, bucketBytes: 1 << 20,
                                               average: true, seed: seed)
            assertClose(results, worldSize: worldSize, average: true, seed: seed, label)
            assertBitIdentical(results, label)
        }
    }

    func testMultipleBucketsMatchFloat64() throws {
        // 64-byte buckets hold 16 floats, so 100 floats take 7 ring passes, the last one partial.
        for worldSize in [2, 3, 5] {
            let seed = UInt64(31 * worldSize)
            let label = "W=\(worldSize) seed=\(seed)"
            let results = try Self.ringResults(worldSize: worldSize, count: 100, bucketBytes: 64,
                                               average: false, seed: seed)
            assertClose(results, worldSize: worldSize, average: false, seed: seed, label)
            assertBitIdentical(results, label)
        }
    }

    func testPollingWaitMatchesBlocking() throws {
        for worldSize in [2, 3] {
            let outputs = try InProcessWorld.run(worldSize: worldSize, timeoutSeconds: 60) { communicator -> ([Float], [Float]) in
                let original = (0..<37).map { Self.input(rank: communicator.rank, index: $0, seed: 13) }
                let ring = RingAllreduce(communicator: communicator, bucketBytes: 64)
                var blocking = original
                try blocking.withUnsafeMutableBufferPointer { try ring.allreduce($0, average: false) }
                ring.pollIntervalSeconds = 1e-5
                var polling = original
                try polling.withUnsafeMutableBufferPointer { try ring.allreduce($0, average: false) }
                return (blocking, polling)
            }
            for (rank, output) in outputs.enumerated() {
                XCTAssertEqual(output.1.map(\.bitPattern), output.0.map(\.bitPattern), "W=\(worldSize) rank \(rank)")
            }
        }
    }

    func testRepeatedRunsAreBitIdentical() throws {
        let first = try Self.ringResults(worldSize: 4, count: 1001, bucketBytes: 400, average: true, seed: 5)
        let second = try Self.ringResults(worldSize: 4, count: 1001, bucketBytes: 400, average: true, seed: 5)
        for rank in 0..<4 {
            XCTAssertEqual(first[rank].map(\.bitPattern), second[rank].map(\.bitPattern), "rank \(rank)")
        }
    }

    func testAdditionOrderIsDocumentedOrder() throws {
        // One float per chunk: chunk c must be x[c] + x[c+1] + … + x[c−1], added left to right.
        let worldSize = 4
        let seed: UInt64 = 77
        let results = try Self.ringResults(worldSize: worldSize, count: worldSize, bucketBytes: 1024,
                                           average: false, seed: seed)
        for chunk in 0..<worldSize {
            var expected = Self.input(rank: chunk, index: chunk, seed: seed)
            for step in 1..<worldSize {
                expected += Self.input(rank: (chunk + step) % worldSize, index: chunk, seed: seed)
            }
            XCTAssertEqual(results[0][chunk].bitPattern, expected.bitPattern, "chunk \(chunk)")
        }
    }

    func testFusedParametersMatchFloat64() throws {
        let counts = [0, 5, 17, 1, 33, 0, 12]
        let total = counts.reduce(0, +)
        let seed: UInt64 = 11
        for worldSize in [1, 2, 3] {
            let label = "W=\(worldSize)"
            let outputs = try InProcessWorld.run(worldSize: worldSize, timeoutSeconds: 60) { communicator in
                let flat = (0..<total).map { Self.input(rank: communicator.rank, index: $0, seed: seed) }
                var start = 0
                let buffers = counts.map { count -> UnsafeMutableBufferPointer<Float> in
                    let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
                    _ = buffer.initialize(from: flat[start..<(start + count)])
                    start += count
                    return buffer
                }
                defer { buffers.forEach { $0.deallocate() } }

                // 40-byte buckets hold 10 floats, so buckets cut across parameter boundaries.
                let ring = RingAllreduce(communicator: communicator, bucketBytes: 40)
                try ring.allreduce(parameters: buffers, average: false)
                return (buffers.flatMap { Array($0) }, ring.statistics)
            }
            let results = outputs.map(\.0)
            assertClose(results, worldSize: worldSize, average: false, seed: seed, label)
            assertBitIdentical(results, label)

            let statistics = outputs[0].1
            XCTAssertEqual(statistics.calls, 1, label)
            XCTAssertEqual(statistics.buckets, (total + 9) / 10, label)
            XCTAssertEqual(statistics.bytes, total * 4, label)
        }
    }

    func testChunkLayoutCoversAllElements() {
        for (count, chunkCount) in [(0, 3), (2, 3), (3, 3), (10, 3), (11, 4)] {
            let layout = ChunkLayout(count: count, chunkCount: chunkCount)
            let ranges = (0..<chunkCount).map(layout.range)
            XCTAssertEqual(ranges.first?.lowerBound, 0, "L=\(count) W=\(chunkCount)")
            XCTAssertEqual(ranges.last?.upperBound, count, "L=\(count) W=\(chunkCount)")
            for index in 1..<chunkCount {
                XCTAssertEqual(ranges[index].lowerBound, ranges[index - 1].upperBound, "L=\(count) chunk \(index)")
            }
            let sizes = ranges.map(\.count)
            XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1, "L=\(count) W=\(chunkCount)")
            XCTAssertEqual(layout.maximumChunkCount, sizes.max()!, "L=\(count) W=\(chunkCount)")
        }
    }
}
