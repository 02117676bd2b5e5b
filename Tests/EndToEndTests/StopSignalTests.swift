import Foundation
import Training
import XCTest

/// SIGTERM in-process: the ranks stop after the same step and write a checkpoint even without
/// `train.checkpointEverySteps`, and the checkpoint continues the run exactly.
final class StopSignalTests: XCTestCase {
    override func tearDown() {
        StopSignal.reset()
        super.tearDown()
    }

    func testSIGTERMStopsAfterFirstStep() throws {
        let folder = try temporaryDirectory(self)
        let config = try InProcessRun.config(folder, steps: 5)
        let uninterrupted = try InProcessRun(folder: folder).train(config)

        // The handler only records the signal, so raising it here does not end the test process.
        StopSignal.install()
        raise(SIGTERM)
        XCTAssertEqual(StopSignal.received, SIGTERM)
        var run = InProcessRun(folder: folder)
        run.runName = "stopped"
        let stopped = try run.train(config)
        StopSignal.reset()
        XCTAssertEqual(stopped.stopSignal, SIGTERM)
        XCTAssertEqual(stopped.stepLosses.count, 1)
        XCTAssertNil(stopped.evaluation)
        let checkpoints = folder.appendingPathComponent("stopped/checkpoints")
        XCTAssertEqual(folderListing(checkpoints), ["latest", "step-1"])
        let log = try String(contentsOf: folder.appendingPathComponent("stopped/train.log"), encoding: .utf8)
        XCTAssertTrue(log.contains("stopping after step 1 on SIGTERM"), log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("stopped/metrics.json").path))

        var resumed = InProcessRun(folder: folder)
        resumed.resumeFrom = checkpoints.appendingPathComponent("step-1").path
        XCTAssertEqual(try resumed.train(config).finalParameters, uninterrupted.finalParameters)
    }
}
