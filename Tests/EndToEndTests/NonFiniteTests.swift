import Foundation
import Training
import XCTest

/// A NaN in a loss or gradient, injected through `TestHooks.nanAtStepVariable` on rank 1: the
/// `stop` policy ends the run before the bad step changes anything, `skip` drops the batch on
/// every rank.
final class NonFiniteTests: XCTestCase {
    override func tearDown() {
        unsetenv(TestHooks.nanAtStepVariable)
        super.tearDown()
    }

    func testLossNaNStopsNamingStepRankTask() throws {
        let folder = try temporaryDirectory(self)
        var config = try InProcessRun.config(folder, steps: 8)
        let uninterrupted = try InProcessRun(folder: folder).train(config)

        config.train.checkpointEverySteps = 2
        setenv(TestHooks.nanAtStepVariable, "5", 1)
        var run = InProcessRun(folder: folder)
        run.runName = "run"
        let message = run.trainingError(config)
        XCTAssertTrue(message.contains("loss of task click"), message)
        XCTAssertTrue(message.contains("in step 5"), message)
        XCTAssertTrue(message.contains("on rank 1"), message)
        XCTAssertTrue(message.contains("train.nonFinite"), message)
        let checkpoints = folder.appendingPathComponent("run/checkpoints")
        XCTAssertEqual(folderListing(checkpoints), ["latest", "step-2", "step-4"], "a checkpoint was written from the bad state")

        unsetenv(TestHooks.nanAtStepVariable)
        var resumed = InProcessRun(folder: folder)
        resumed.runName = "resumed"
        resumed.resumeFrom = checkpoints.appendingPathComponent("step-4").path
        let summary = try resumed.train(config)
        XCTAssertEqual(summary.finalParameters, uninterrupted.finalParameters, "step-4 does not continue the run")
    }

    func testGradientNaNNamesParameter() throws {
        let folder = try temporaryDirectory(self)
        let config = try InProcessRun.config(folder, steps: 4)
        let reference = try InProcessRun(folder: folder).train(try InProcessRun.config(folder, steps: 1))
        let firstParameter = try XCTUnwrap(reference.finalParameters?.arrays.first?.name)

        setenv(TestHooks.nanAtStepVariable, "3:gradient", 1)
        let message = InProcessRun(folder: folder).trainingError(config)
        XCTAssertTrue(message.contains("gradient of \(firstParameter) "), message)
        XCTAssertTrue(message.contains("in step 3"), message)
        XCTAssertTrue(message.contains("on rank 1"), message)
    }

    func testSkipLeavesParametersUnchanged() throws {
        let folder = try temporaryDirectory(self)
        let twoSteps = try InProcessRun(folder: folder).train(try InProcessRun.config(folder, steps: 2))

        var config = try InProcessRun.config(folder, steps: 3)
        config.train.nonFinite = "skip"
        setenv(TestHooks.nanAtStepVariable, "3:gradient", 1)
        var run = InProcessRun(folder: folder)
        run.runName = "skip"
        let skipped = try run.train(config)
        XCTAssertEqual(skipped.stepLosses.count, 3)
        XCTAssertEqual(skipped.stepLosses.map(\.rows), [256, 256, 0])
        XCTAssertEqual(skipped.skippedSteps, 1)
        let after = try XCTUnwrap(skipped.finalParameters?.arrays)
        let before = try XCTUnwrap(twoSteps.finalParameters?.arrays)
        XCTAssertEqual(after.map(\.name), before.map(\.name))
        for (left, right) in zip(after, before) {
            XCTAssertEqual(left.values, right.values, "step 3 changed \(left.name)")
        }

        let metrics = try Data(contentsOf: folder.appendingPathComponent("skip/metrics.json"))
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: metrics) as? [String: Any])
        XCTAssertEqual(object["skippedSteps"] as? Int, 1)
        let log = try String(contentsOf: folder.appendingPathComponent("skip/train.log"), encoding: .utf8)
        XCTAssertTrue(log.contains("skipped the batch of step 3 on every rank"), log)
        XCTAssertTrue(log.contains("skipped 1 of 3 steps"), log)
    }
}
