import Communication
import Foundation
import Training
import XCTest

/// Ranks that run different trainer executables are stopped at start, naming the ranks.
final class BuildIdentityTests: XCTestCase {
    func testDifferentBuildsNameRanks() throws {
        let folder = try temporaryDirectory(self)
        var run = InProcessRun(folder: folder)
        run.worldSize = 4
        run.buildIdentity = { rank in
            BuildIdentity(executablePath: rank == 3 ? "/tmp/trainer" : "/opt/trainer", hash: rank == 1 || rank == 3 ? 7 : 5)
        }
        let message = run.trainingError(try InProcessRun.config(folder, steps: 1))
        XCTAssertTrue(message.contains("ranks 1, 3 run a different trainer executable than rank 0"), message)
        XCTAssertTrue(message.contains("rank 0: /opt/trainer, rank 1: /opt/trainer, rank 3: /tmp/trainer"), message)
    }

    func testSameBuildTrains() throws {
        let folder = try temporaryDirectory(self)
        var run = InProcessRun(folder: folder)
        run.buildIdentity = { _ in BuildIdentity(executablePath: "/opt/trainer", hash: 5) }
        XCTAssertEqual(try run.train(try InProcessRun.config(folder, steps: 1)).stepLosses.count, 1)
    }

    func testRunningExecutableHash() throws {
        let identity = try XCTUnwrap(BuildIdentity.ofRunningExecutable())
        // FNV-1a 64 of the file, recomputed here byte by byte.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: "/proc/self/exe"))
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        XCTAssertEqual(identity.hash, hash)
    }
}

/// `trainer eval` checks the builds of its ranks too, before it reads the checkpoint.
final class EvaluationBuildIdentityTests: XCTestCase {
    func testDifferentBuildsStopEval() throws {
        let folder = try temporaryDirectory(self)
        let options = EvaluationOptions(checkpoint: folder.appendingPathComponent("missing").path,
                                        cacheDirectory: folder.appendingPathComponent("cache").path)
        let errors = try InProcessWorld.run(worldSize: 3) { communicator -> String in
            var ranked = options
            ranked.buildIdentity = BuildIdentity(executablePath: "/opt/trainer", hash: communicator.rank == 2 ? 9 : 4)
            do {
                _ = try EvaluationSession.run(ranked, communicator: communicator,
                                              logger: Logger(rank: communicator.rank, worldSize: 3, console: DiscardSink()))
                return "no error"
            } catch {
                return String(describing: error)
            }
        }
        for (rank, message) in errors.enumerated() {
            XCTAssertTrue(message.contains("rank 2 runs a different trainer executable than rank 0"), "rank \(rank): \(message)")
        }
    }
}
