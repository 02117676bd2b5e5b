import XCTest
@testable import Communication

final class RankChecksumTests: XCTestCase {
    func testChecksumIsFNV1aOfBytes() {
        // FNV-1a of the empty input is the offset basis. The single byte 0x61 ("a") hashes to
        // 0xaf63dc4c8601ec8c, the standard 64-bit FNV-1a test vector.
        XCTAssertEqual(RankChecksum.checksum([]), 0xcbf2_9ce4_8422_2325)
        let oneFloat: [Float] = [Float(bitPattern: 0x0000_0061)]
        let expected = oneFloat.withUnsafeBytes { bytes -> UInt64 in
            var hash: UInt64 = 0xaf63_dc4c_8601_ec8c
            for byte in bytes.dropFirst() {
                hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            }
            return hash
        }
        XCTAssertEqual(oneFloat.withUnsafeBufferPointer { RankChecksum.checksum($0) }, expected)
    }

    func testChecksumSeesSignOfZero() {
        let positive: [Float] = [0, 1]
        let negative: [Float] = [-0.0, 1]
        XCTAssertNotEqual(positive.withUnsafeBufferPointer { RankChecksum.checksum($0) },
                          negative.withUnsafeBufferPointer { RankChecksum.checksum($0) })
    }

    func testDivergentRanksAgainstMajority() {
        XCTAssertEqual(RankChecksum.divergentRanks(checksums: [5, 5, 5, 5]), [])
        XCTAssertEqual(RankChecksum.divergentRanks(checksums: [9, 5, 5, 5]), [0])
        XCTAssertEqual(RankChecksum.divergentRanks(checksums: [5, 5, 9, 8]), [2, 3])
        XCTAssertEqual(RankChecksum.divergentRanks(checksums: [5, 9]), [1])
        XCTAssertEqual(RankChecksum.divergentRanks(checksums: [7]), [])
    }

    func testDivergentRanksAcrossWorld() throws {
        let results = try InProcessWorld.run(worldSize: 3) { communicator -> [Int] in
            var values: [Float] = [1, 2, 3]
            if communicator.rank == 2 {
                values[1] = values[1].nextUp
            }
            return try values.withUnsafeBufferPointer {
                try RankChecksum.divergentRanks([$0], communicator: communicator)
            }
        }
        for rank in 0..<3 {
            XCTAssertEqual(results[rank], [2], "rank \(rank)")
        }
    }
}
