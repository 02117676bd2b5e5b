import Foundation
import XCTest
@testable import DataPipeline

final class AtomicFileWriteTests: XCTestCase {
    /// Pieces larger than one writeback chunk, at offsets that are not chunk multiples, land
    /// where they were written, and the gap between them reads as zeros.
    func testPiecesAcrossWritebackChunks() throws {
        let directory = try TestSupport.temporaryDirectory(self)
        let path = directory + "/pieces.bin"
        let chunk = AtomicFileWrite.writebackChunkBytes
        let first = (0..<(chunk + 13)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let second = (0..<(2 * chunk + 5)).map { UInt8(truncatingIfNeeded: $0 &* 17 &+ 3) }
        let secondOffset = first.count + 100
        let fileBytes = secondOffset + second.count + 64

        try AtomicFileWrite.write(to: path, fileBytes: fileBytes) { descriptor in
            if let failure = second.withUnsafeBytes({ AtomicFileWrite.writeFully(descriptor, $0, at: secondOffset) }) {
                return failure
            }
            return first.withUnsafeBytes { AtomicFileWrite.writeFully(descriptor, $0, at: 0) }
        }

        let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        var expected = [UInt8](repeating: 0, count: fileBytes)
        expected.replaceSubrange(0..<first.count, with: first)
        expected.replaceSubrange(secondOffset..<(secondOffset + second.count), with: second)
        XCTAssertEqual(written.count, fileBytes)
        XCTAssertTrue(written == expected, "file bytes differ from the pieces written")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(path).tmp-\(getpid())"))
    }

    func testFailedWriteLeavesNoFile() throws {
        let directory = try TestSupport.temporaryDirectory(self)
        let path = directory + "/failed.bin"
        XCTAssertThrowsError(try AtomicFileWrite.write(to: path, fileBytes: 8) { _ in EIO })
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(path).tmp-\(getpid())"))
    }
}
