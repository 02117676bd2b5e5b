import Communication
import Foundation
@testable import Training
import XCTest

/// Nodes that do not share the cache folder prepare their own copy of the data.
final class NodeLocalDataTests: XCTestCase {
    func testPreparersOneRankPerHostWithoutFile() {
        let hosts = ["a", "a", "b", "b", "c", "c"]
        XCTAssertEqual(NodeLocalData.preparers(hosts: hosts, seesFile: [true, true, false, false, true, true]), [2])
        XCTAssertEqual(NodeLocalData.preparers(hosts: hosts, seesFile: [true, true, true, false, false, true]), [3, 4])
        XCTAssertEqual(NodeLocalData.preparers(hosts: hosts, seesFile: Array(repeating: true, count: 6)), [])
    }

    func testMismatchNamesRanksAndHosts() throws {
        XCTAssertNil(NodeLocalData.mismatch(fingerprints: [7, 7, 7], hosts: ["a", "b", "c"]))
        let error = try XCTUnwrap(NodeLocalData.mismatch(fingerprints: [7, 7, 9, 9], hosts: ["a", "a", "b", "b"]))
        let message = String(describing: error)
        XCTAssertTrue(message.contains("rank 2 on b, rank 3 on b"), message)
        XCTAssertTrue(message.contains("rank 0's on a"), message)
        XCTAssertTrue(message.contains("0000000000000009 against 0000000000000007"), message)
        XCTAssertTrue(message.contains("copy the same files to every node"), message)
    }

    /// Rank 0 uses one cache folder and ranks 1 and 2 another, as two nodes with local disks would.
    func testSeparateCacheFoldersGetACopy() throws {
        let folder = try temporaryDirectory(self)
        let config = try syntheticConfig(directory: folder.appendingPathComponent("data"), rows: 2_000, batchSize: 256,
                                         maxSteps: 3)
        let caches = [folder.appendingPathComponent("cache-a"), folder.appendingPathComponent("cache-b")]
        func options(rank: Int) -> RunOptions {
            RunOptions(config: config, configSource: "test", cacheDirectory: caches[rank == 0 ? 0 : 1].path)
        }
        let log = CapturingSink()
        let opened = try InProcessWorld.run(worldSize: 3) { communicator -> (path: String, fingerprint: UInt64, features: [Int32]) in
            let logger = Logger(rank: communicator.rank, worldSize: 3, console: log)
            let dataset = try TrainingSession.openDataset(options(rank: communicator.rank), communicator: communicator,
                                                          logger: logger)
            return (dataset.path, dataset.fingerprint, Array(dataset.train.features) + Array(dataset.test.features))
        }
        XCTAssertTrue(opened[0].path.hasPrefix(caches[0].path), opened[0].path)
        XCTAssertTrue(opened[1].path.hasPrefix(caches[1].path), opened[1].path)
        XCTAssertEqual(opened[2].path, opened[1].path)
        XCTAssertEqual(URL(fileURLWithPath: opened[1].path).lastPathComponent, URL(fileURLWithPath: opened[0].path).lastPathComponent)
        XCTAssertEqual(Set(opened.map(\.fingerprint)).count, 1)
        XCTAssertEqual(opened[1].features, opened[0].features, "the copy encodes every row as rank 0's file does")
        XCTAssertEqual(opened[2].features, opened[0].features)
        let copies = log.lines.filter { $0.contains("prepared a copy of the data") }
        XCTAssertEqual(copies.count, 1, "only rank 1 prepares on its host: \(copies)")
        XCTAssertTrue(copies.first?.contains("[rank 1/3]") ?? false, "\(copies)")

        // With the copy in place, a second start finds the file on every rank and prepares nothing.
        let again = CapturingSink()
        _ = try InProcessWorld.run(worldSize: 3) { communicator in
            _ = try TrainingSession.openDataset(options(rank: communicator.rank), communicator: communicator,
                                                logger: Logger(rank: communicator.rank, worldSize: 3, console: again))
        }
        XCTAssertFalse(again.lines.contains { $0.contains("prepared a copy") }, again.lines.joined(separator: "\n"))

        // A truncated copy counts as missing, so its host prepares it again.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: opened[1].path))
        try handle.truncate(atOffset: 1000)
        try handle.close()
        let rebuilt = CapturingSink()
        let reopened = try InProcessWorld.run(worldSize: 3) { communicator in
            try TrainingSession.openDataset(options(rank: communicator.rank), communicator: communicator,
                                            logger: Logger(rank: communicator.rank, worldSize: 3, console: rebuilt)).fingerprint
        }
        XCTAssertEqual(reopened, opened.map(\.fingerprint))
        XCTAssertEqual(rebuilt.lines.filter { $0.contains("prepared a copy") }.count, 1, rebuilt.lines.joined(separator: "\n"))
    }
}
