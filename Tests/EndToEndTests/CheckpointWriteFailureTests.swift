import Foundation
import Training
import XCTest

/// A checkpoint that cannot be written stops every rank with the path named and leaves the
/// previous checkpoint usable. A full disk is simulated with `TestHooks.diskFullAtStepVariable`,
/// which sends the writes to /dev/full (ENOSPC). An unwritable folder is a regular file where
/// `checkpoints/` should be, because permission bits do not stop root, and the tests may run as root.
final class CheckpointWriteFailureTests: XCTestCase {
    override func tearDown() {
        unsetenv(TestHooks.diskFullAtStepVariable)
        super.tearDown()
    }

    func testDiskFullKeepsPreviousCheckpoint() throws {
        let folder = try temporaryDirectory(self)
        var config = try InProcessRun.config(folder, steps: 6)
        let uninterrupted = try InProcessRun(folder: folder).train(config)

        config.train.checkpointEverySteps = 2
        setenv(TestHooks.diskFullAtStepVariable, "4", 1)
        var run = InProcessRun(folder: folder)
        run.runName = "run"
        let message = run.trainingError(config)
        let checkpoints = folder.appendingPathComponent("run/checkpoints")
        XCTAssertTrue(message.contains(checkpoints.path + "/step-4.tmp-"), message)
        XCTAssertTrue(message.contains("No space left on device"), message)
        XCTAssertEqual(folderListing(checkpoints), ["latest", "step-2"])
        XCTAssertEqual(try String(contentsOf: checkpoints.appendingPathComponent("latest"), encoding: .utf8), "step-2\n")

        unsetenv(TestHooks.diskFullAtStepVariable)
        var resumed = InProcessRun(folder: folder)
        resumed.runName = "resumed"
        resumed.resumeFrom = folder.appendingPathComponent("run").path
        XCTAssertEqual(try resumed.train(config).finalParameters, uninterrupted.finalParameters)
    }

    func testCheckpointsFolderIsAFile() throws {
        let folder = try temporaryDirectory(self)
        var config = try InProcessRun.config(folder, steps: 4)
        config.train.checkpointEverySteps = 2
        let runFolder = folder.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: runFolder, withIntermediateDirectories: true)
        let blocker = runFolder.appendingPathComponent("checkpoints")
        try Data("not a folder\n".utf8).write(to: blocker)

        var run = InProcessRun(folder: folder)
        run.runName = "run"
        run.overwrite = true
        let message = run.trainingError(config)
        XCTAssertTrue(message.contains("cannot write checkpoint file \(blocker.path)"), message)
        XCTAssertEqual(try String(contentsOf: blocker, encoding: .utf8), "not a folder\n")
        XCTAssertEqual(folderListing(runFolder), ["checkpoints", "config.json", "train.log"])
    }
}
