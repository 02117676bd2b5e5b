import Foundation
import XCTest

/// Failures under mpirun end the whole job quickly with the cause shown, never a hang.
final class FailureTests: XCTestCase {
    func testMissingDataStopsEveryRank() throws {
        let folder = try temporaryDirectory(self)
        let missing = folder.appendingPathComponent("no-such-data").path
        let started = Date()
        let result = try runTrainer(ranks: 2, ["train", "--config", "configs/pepnet-kuairand.json", "--data-dir", missing,
                                               "--run-dir", folder.appendingPathComponent("run").path], timeoutSeconds: 120)
        XCTAssertNotEqual(result.exitCode, 0, result.output)
        XCTAssertTrue(result.output.contains(missing), "the message names the missing path:\n\(result.output)")
        XCTAssertLessThan(Date().timeIntervalSince(started), 60, "the job took too long to stop:\n\(result.output)")
        let log = try String(contentsOf: folder.appendingPathComponent("run/train.log"), encoding: .utf8)
        XCTAssertTrue(log.contains(missing), "train.log records the failure:\n\(log)")
    }

    func testRanksWithDifferentConfigsAreStopped() throws {
        // Two ranks started with different configs, through mpirun's multiple-program syntax.
        let folder = try temporaryDirectory(self)
        let other = folder.appendingPathComponent("other.json")
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("configs/pepnet-kuairand.json"), encoding: .utf8)
        try text.replacingOccurrences(of: "\"seed\": 1", with: "\"seed\": 2").write(to: other, atomically: true, encoding: .utf8)
        let trainer = try builtExecutable("trainer").path
        var arguments = ["--oversubscribe"]
        if getuid() == 0 { arguments.append("--allow-run-as-root") }
        let common = ["--data-dir", kuaiRandDirectory.path, "--run-dir", folder.appendingPathComponent("run").path]
        arguments += ["-np", "1", trainer, "train", "--config", "configs/pepnet-kuairand.json"] + common
        arguments += [":", "-np", "1", trainer, "train", "--config", other.path] + common
        let environment = ["OMPI_MCA_mpi_yield_when_idle": "1", "OMPI_MCA_btl": "self,vader",
                           "OMPI_MCA_oob_tcp_if_include": "lo", "OPENBLAS_NUM_THREADS": "1"]
        let result = try runProcess(URL(fileURLWithPath: "/usr/bin/mpirun"), arguments, environment: environment,
                                    timeoutSeconds: 120)
        XCTAssertNotEqual(result.exitCode, 0, result.output)
        XCTAssertTrue(result.output.contains("started with a config that differs from rank 0's"), result.output)
    }

    func testSkippedNaNStepKeepsMetricsReadable() throws {
        // A skipped step's losses are NaN; the step records around it must stay valid JSON.
        let folder = try temporaryDirectory(self)
        var config = try syntheticConfig(directory: folder.appendingPathComponent("data"), rows: 6_000, batchSize: 256,
                                         maxSteps: 10)
        config.train.nonFinite = "skip"
        config.train.logEverySteps = 2
        let configFile = folder.appendingPathComponent("config.json")
        try config.encodedJSON().write(to: configFile)
        let run = folder.appendingPathComponent("run")
        let result = try runProcess(try builtExecutable("trainer"),
                                    ["train", "--config", configFile.path, "--run-dir", run.path,
                                     "--cache-dir", folder.appendingPathComponent("cache").path],
                                    environment: ["TRAINER_TEST_NAN_AT_STEP": "3"], timeoutSeconds: 120)
        XCTAssertEqual(result.exitCode, 0, result.output)
        let lines = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        XCTAssertEqual(lines.count, 6, "five step records and one evaluation")
        for line in lines {
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(line.utf8)), String(line))
        }
        let metrics = try JSONSerialization.jsonObject(with: Data(contentsOf: run.appendingPathComponent("metrics.json")))
        XCTAssertEqual((metrics as? [String: Any])?["skippedSteps"] as? Int, 1)
    }
}
