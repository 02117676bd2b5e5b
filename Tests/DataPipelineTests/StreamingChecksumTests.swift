import XCTest
@testable import DataPipeline

final class StreamingChecksumTests: XCTestCase {
    /// Random piece boundaries, including empty pieces and pieces of 1 to 7 bytes, give the
    /// checksum of the whole buffer computed in one call.
    func testRandomPiecesMatchWhole() {
        var generator = SplitMix64(seed: 11)
        for length in [0, 1, 7, 8, 9, 63, 64, 1000, 4099] {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            let whole = bytes.withUnsafeBytes { PreparedFileFormat.checksum($0) }
            for trial in 0..<20 {
                var sum = StreamingChecksum(totalBytes: length)
                var position = 0
                bytes.withUnsafeBytes { buffer in
                    while position < length {
                        let piece = min(length - position, Int(generator.next() % 20))
                        sum.add(UnsafeRawBufferPointer(rebasing: buffer[position..<(position + piece)]))
                        position += piece
                    }
                }
                XCTAssertEqual(sum.finish(), whole, "length \(length), trial \(trial)")
            }
        }
    }

    func testZerosMatchZeroBytes() {
        for length in [0, 5, 4096, 4097, 10_000] {
            let whole = [UInt8](repeating: 0, count: length + 3).withUnsafeBytes { PreparedFileFormat.checksum($0) }
            var sum = StreamingChecksum(totalBytes: length + 3)
            sum.addZeros(1)
            sum.addZeros(length)
            sum.addZeros(2)
            XCTAssertEqual(sum.finish(), whole, "length \(length)")
        }
    }
}
