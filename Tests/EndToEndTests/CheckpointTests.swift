import Communication
import Foundation
import Training
import XCTest

/// Checkpoints: exact resume, resharding across world sizes, interrupted saves, damaged or
/// mismatched checkpoints, and `trainer eval` against a float64 reference.
final class CheckpointTests: XCTestCase {
    /// 3,000 rows leave about 2,570 training rows, so 256-row batches give 11 steps an epoch and
    /// 16 steps cross an epoch boundary.
    func smallConfig(_ folder: URL, steps: Int) throws -> TrainerConfig {
        try syntheticConfig(directory: folder.appendingPathComponent("data"), rows: 3_000, batchSize: 256,
                            maxSteps: steps, epochs: 3)
    }

    func train(_ config: TrainerConfig, worldSize: Int, folder: URL, runName: String? = nil,
               resumeFrom: String? = nil) throws -> RunSummary {
        var options = RunOptions(config: config, configSource: "test", cacheDirectory: folder.appendingPathComponent("cache").path)
        options.keepFinalParameters = true
        options.runDirectory = runName.map { folder.appendingPathComponent($0).path }
        options.resumeFrom = resumeFrom
        let summaries = try InProcessWorld.run(worldSize: worldSize) { communicator in
            try TrainingSession.run(options, communicator: communicator,
                                    logger: Logger(rank: communicator.rank, worldSize: worldSize, console: DiscardSink()))
        }
        return summaries[0]
    }

    func evaluate(_ checkpoint: String, worldSize: Int, folder: URL, output: String,
                  predictions: String? = nil) throws -> EvaluationReport {
        var options = EvaluationOptions(checkpoint: checkpoint, cacheDirectory: folder.appendingPathComponent("cache").path)
        options.outputDirectory = folder.appendingPathComponent(output).path
        options.predictionsPath = predictions
        let reports = try InProcessWorld.run(worldSize: worldSize) { communicator in
            try EvaluationSession.run(options, communicator: communicator,
                                      logger: Logger(rank: communicator.rank, worldSize: worldSize, console: DiscardSink()))
        }
        return try XCTUnwrap(reports[0])
    }

    /// Returns the error that `work` throws, failing the test when it throws none.
    func thrownMessage(_ work: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            try work()
            XCTFail("expected an error", file: file, line: line)
            return ""
        } catch {
            return String(describing: error)
        }
    }

    func testResumeMatchesUninterruptedRun() throws {
        let folder = try temporaryDirectory(self)
        var config = try smallConfig(folder, steps: 16)
        let uninterrupted = try train(config, worldSize: 2, folder: folder)

        config.train.checkpointEverySteps = 8
        let checkpointed = try train(config, worldSize: 2, folder: folder, runName: "first")
        XCTAssertEqual(checkpointed.finalParameters, uninterrupted.finalParameters, "saving changed the training")

        let middle = folder.appendingPathComponent("first/checkpoints/step-8").path
        let resumed = try train(config, worldSize: 2, folder: folder, runName: "second", resumeFrom: middle)
        let expected = try XCTUnwrap(uninterrupted.finalParameters)
        let actual = try XCTUnwrap(resumed.finalParameters)
        XCTAssertEqual(actual.arrays.map(\.name), expected.arrays.map(\.name))
        for (a, b) in zip(actual.arrays, expected.arrays) {
            XCTAssertEqual(a.values, b.values, "\(a.name) differs after resuming")
        }
        XCTAssertEqual(actual.stepLosses, expected.stepLosses)
        XCTAssertEqual(resumed.stepLosses.count, 16)
    }

    func testCheckpointsKeepNewestAndNameLatest() throws {
        let folder = try temporaryDirectory(self)
        var config = try smallConfig(folder, steps: 10)
        config.train.checkpointEverySteps = 2
        config.train.keepCheckpoints = 2
        _ = try train(config, worldSize: 1, folder: folder, runName: "run")
        let checkpoints = folder.appendingPathComponent("run/checkpoints")
        let names = try FileManager.default.contentsOfDirectory(atPath: checkpoints.path).sorted()
        XCTAssertEqual(names, ["latest", "step-10", "step-8"])
        let latest = try String(contentsOf: checkpoints.appendingPathComponent("latest"), encoding: .utf8)
        XCTAssertEqual(latest, "step-10\n")
        XCTAssertEqual(try CheckpointLoader.resolve(folder.appendingPathComponent("run").path).lastPathComponent, "step-10")

        let manifest = try CheckpointLoader.readManifest(directory: checkpoints.appendingPathComponent("step-10"))
        XCTAssertEqual(manifest.globalStep, 10)
        XCTAssertEqual(manifest.worldSize, 1)
        XCTAssertEqual(manifest.sparseOptimizer.stepCount, 10)
        XCTAssertEqual(manifest.denseOptimizer.stepCount, 10)
        XCTAssertEqual(manifest.epoch, 0)
        XCTAssertEqual(manifest.stepInEpoch, 10)
        XCTAssertNotNil(manifest.metrics, "the final checkpoint follows the evaluation")
        for entry in manifest.files {
            let attributes = try FileManager.default.attributesOfItem(atPath: checkpoints.appendingPathComponent("step-10/\(entry.name)").path)
            XCTAssertEqual((attributes[.size] as? NSNumber)?.intValue, entry.bytes, entry.name)
        }
    }

    func testReshardFourToOneToTwo() throws {
        let folder = try temporaryDirectory(self)
        var config = try smallConfig(folder, steps: 6)
        config.train.checkpointEverySteps = 6
        _ = try train(config, worldSize: 4, folder: folder, runName: "four")

        config.train.maxSteps = 12
        let resumedOnOne = try train(config, worldSize: 1, folder: folder, runName: "one",
                                     resumeFrom: folder.appendingPathComponent("four").path)
        var plain = config
        plain.train.checkpointEverySteps = nil
        let uninterrupted = try train(plain, worldSize: 1, folder: folder)
        let difference = maxAbsoluteDifference(try XCTUnwrap(resumedOnOne.finalParameters),
                                               try XCTUnwrap(uninterrupted.finalParameters))
        XCTAssertLessThan(difference.value, 1e-5, "largest difference in \(difference.array)")

        config.train.maxSteps = 14
        let resumedOnTwo = try train(config, worldSize: 2, folder: folder, runName: "two",
                                     resumeFrom: folder.appendingPathComponent("one").path)
        XCTAssertEqual(resumedOnTwo.stepLosses.count, 14)

        let checkpoint = folder.appendingPathComponent("two").path
        let reports = try [1, 2, 4].map { try evaluate(checkpoint, worldSize: $0, folder: folder, output: "eval-\($0)") }
        XCTAssertEqual(reports[0], reports[1], "1 and 2 ranks")
        XCTAssertEqual(reports[0], reports[2], "1 and 4 ranks")
        let files = try [1, 2, 4].map { try Data(contentsOf: folder.appendingPathComponent("eval-\($0)/metrics.json")) }
        XCTAssertEqual(files[0], files[1])
        XCTAssertEqual(files[0], files[2])
        XCTAssertEqual(reports[0], resumedOnTwo.evaluation, "eval of the final checkpoint repeats the run's evaluation")
    }

    func testInterruptedSaveKeepsPreviousCheckpoint() throws {
        let folder = try temporaryDirectory(self)
        let config = try smallConfig(folder, steps: 8)
        let configFile = folder.appendingPathComponent("config.json")
        try config.encodedJSON().write(to: configFile)
        let run = folder.appendingPathComponent("run")
        let result = try runProcess(try builtExecutable("trainer"),
                                    ["train", "--config", configFile.path, "--run-dir", run.path, "--checkpoint-every", "4",
                                     "--cache-dir", folder.appendingPathComponent("cache").path],
                                    environment: [CheckpointWriter.killDuringSaveEnvironmentVariable: "8"])
        XCTAssertEqual(result.exitCode, SIGKILL, "the hook kills the process during the save of step 8:\n\(result.output)")

        let checkpoints = run.appendingPathComponent("checkpoints")
        let names = try FileManager.default.contentsOfDirectory(atPath: checkpoints.path)
        XCTAssertTrue(names.contains("step-4"), "\(names)")
        let torn = try XCTUnwrap(names.first { $0.hasPrefix("step-8.tmp-") }, "\(names)")
        XCTAssertEqual(try CheckpointLoader.resolve(run.path).lastPathComponent, "step-4")

        let message = thrownMessage { _ = try CheckpointLoader.resolve(checkpoints.appendingPathComponent(torn).path) }
        XCTAssertTrue(message.contains("interrupted save"), message)

        var resumed = config
        resumed.train.maxSteps = 8
        let summary = try train(resumed, worldSize: 1, folder: folder, runName: "resumed", resumeFrom: run.path)
        let uninterrupted = try train(config, worldSize: 1, folder: folder)
        XCTAssertEqual(summary.finalParameters, uninterrupted.finalParameters)
    }

    func testTruncatedFileIsRejected() throws {
        let folder = try temporaryDirectory(self)
        var config = try smallConfig(folder, steps: 4)
        config.train.checkpointEverySteps = 4
        _ = try train(config, worldSize: 1, folder: folder, runName: "run")
        let checkpoint = folder.appendingPathComponent("run/checkpoints/step-4")
        let file = checkpoint.appendingPathComponent(CheckpointManifest.rowsFileName(feature: 1))
        let handle = try FileHandle(forWritingTo: file)
        try handle.truncate(atOffset: 100)
        try handle.close()

        let message = thrownMessage { _ = try self.evaluate(checkpoint.path, worldSize: 2, folder: folder, output: "eval") }
        XCTAssertTrue(message.contains("table-1.rows.bin"), message)
        XCTAssertTrue(message.contains("truncated: 100 bytes"), message)
    }

    func testCorruptByteNamesFile() throws {
        let folder = try temporaryDirectory(self)
        var config = try smallConfig(folder, steps: 4)
        config.train.checkpointEverySteps = 4
        _ = try train(config, worldSize: 1, folder: folder, runName: "run")
        let checkpoint = folder.appendingPathComponent("run/checkpoints/step-4")
        let file = checkpoint.appendingPathComponent(CheckpointManifest.denseFileName)
        var bytes = try Data(contentsOf: file)
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: file)

        var resumed = config
        resumed.train.maxSteps = 6
        let message = thrownMessage {
            _ = try self.train(resumed, worldSize: 2, folder: folder, runName: "again", resumeFrom: checkpoint.path)
        }
        XCTAssertTrue(message.contains("dense.bin"), message)
        XCTAssertTrue(message.contains("checksum"), message)
    }

    func testMismatchedManifestNamesDifference() throws {
        let folder = try temporaryDirectory(self)
        var config = try smallConfig(folder, steps: 2)
        config.train.checkpointEverySteps = 2
        _ = try train(config, worldSize: 1, folder: folder, runName: "run")
        let original = folder.appendingPathComponent("run/checkpoints/step-2")

        let cases: [(name: String, edit: (inout [String: Any]) -> Void, expected: [String])] = [
            ("version", { $0["formatVersion"] = 99 }, ["format version is 99 in the checkpoint"]),
            ("model", { $0["modelName"] = "mmoe" }, ["model.name is mmoe in the checkpoint but pepnet here"]),
            ("features", { manifest in
                var tables = manifest["tables"] as! [[String: Any]]
                tables[2]["feature"] = "zodiac_sign"
                manifest["tables"] = tables
            }, ["the feature list", "this run adds age_group", "the checkpoint also has zodiac_sign"]),
            ("rows", { manifest in
                var tables = manifest["tables"] as! [[String: Any]]
                tables[0]["rows"] = 5
                manifest["tables"] = tables
            }, ["the row count of table user_id is 5 in the checkpoint"]),
        ]
        for testCase in cases {
            let copy = folder.appendingPathComponent("copy-\(testCase.name)")
            try FileManager.default.copyItem(at: original, to: copy)
            let manifestURL = copy.appendingPathComponent(CheckpointManifest.fileName)
            var manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as? [String: Any])
            testCase.edit(&manifest)
            try JSONSerialization.data(withJSONObject: manifest).write(to: manifestURL)

            let message = thrownMessage { _ = try self.evaluate(copy.path, worldSize: 2, folder: folder, output: "eval") }
            XCTAssertTrue(message.contains(manifestURL.path), "\(testCase.name): \(message)")
            for text in testCase.expected {
                XCTAssertTrue(message.contains(text), "\(testCase.name): \(message)")
            }
        }
    }

    func testEvalMatchesFloat64Reference() throws {
        let folder = try temporaryDirectory(self)
        var config = try smallConfig(folder, steps: 12)
        config.train.checkpointEverySteps = 12
        config.train.evalBatchSize = 100
        _ = try train(config, worldSize: 1, folder: folder, runName: "run")
        let predictions = folder.appendingPathComponent("predictions.csv")
        let report = try evaluate(folder.appendingPathComponent("run").path, worldSize: 3, folder: folder,
                                  output: "eval", predictions: predictions.path)

        let lines = try String(contentsOf: predictions, encoding: .utf8).split(separator: "\n")
        let header = lines[0].split(separator: ",").map(String.init)
        XCTAssertEqual(header, ["row", "scene", "user", "score_click", "score_long_view", "score_like",
                                "label_click", "label_long_view", "label_like"])
        let rows = lines.dropFirst().map { $0.split(separator: ",").map(String.init) }
        XCTAssertEqual(rows.count, report.rows)
        XCTAssertEqual(rows.map { Int($0[0])! }, Array(0..<rows.count), "every test row once, in order")

        for (task, metrics) in report.tasks.enumerated() {
            let scores = rows.map { Double(Float($0[3 + task])!) }
            let labels = rows.map { $0[6 + task] == "1" }
            let users = rows.map { $0[2] }
            let reference = referenceAUC(scores: scores, labels: labels)
            XCTAssertEqual(try XCTUnwrap(metrics.auc), try XCTUnwrap(reference), accuracy: 1e-12, metrics.name)

            var byUser: [String: [Int]] = [:]
            for (row, user) in users.enumerated() { byUser[user, default: []].append(row) }
            var weighted = 0.0
            var weight = 0.0
            var unweighted = 0.0
            var valid = 0
            for rowsOfUser in byUser.values {
                guard let auc = referenceAUC(scores: rowsOfUser.map { scores[$0] }, labels: rowsOfUser.map { labels[$0] }) else { continue }
                weighted += auc * Double(rowsOfUser.count)
                weight += Double(rowsOfUser.count)
                unweighted += auc
                valid += 1
            }
            XCTAssertEqual(metrics.validUsers, valid, metrics.name)
            XCTAssertEqual(try XCTUnwrap(metrics.gauc), weighted / weight, accuracy: 1e-12, metrics.name)
            XCTAssertEqual(try XCTUnwrap(metrics.uauc), unweighted / Double(valid), accuracy: 1e-12, metrics.name)
            let logloss = zip(scores, labels).map { score, label in
                let p = min(max(score, EvaluationReport.probabilityEpsilon), 1 - EvaluationReport.probabilityEpsilon)
                return label ? -log(p) : -log(1 - p)
            }.reduce(0, +) / Double(scores.count)
            XCTAssertEqual(try XCTUnwrap(metrics.logloss), logloss, accuracy: 1e-9, metrics.name)
        }
    }

    /// AUC by the rank-sum formula with average ranks for ties, in Double; nil without both classes.
    func referenceAUC(scores: [Double], labels: [Bool]) -> Double? {
        let positives = labels.filter { $0 }.count
        let negatives = labels.count - positives
        guard positives > 0, negatives > 0 else { return nil }
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var rankSum = 0.0
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && scores[order[end + 1]] == scores[order[start]] { end += 1 }
            let averageRank = Double(start + end + 2) / 2
            for position in start...end where labels[order[position]] { rankSum += averageRank }
            start = end + 1
        }
        return (rankSum - Double(positives) * Double(positives + 1) / 2) / (Double(positives) * Double(negatives))
    }
}

/// The same checkpoints under mpirun: exact resume and a corrupt file stopping every rank.
final class CheckpointMPITests: XCTestCase {
    func testResumeUnderMPIMatchesUninterruptedRun() throws {
        let folder = try temporaryDirectory(self)
        let config = try syntheticConfig(directory: folder.appendingPathComponent("data"), rows: 3_000, batchSize: 256,
                                         maxSteps: 14, epochs: 3)
        let configFile = folder.appendingPathComponent("config.json")
        try config.encodedJSON().write(to: configFile)
        let common = ["--config", configFile.path, "--cache-dir", folder.appendingPathComponent("cache").path]
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

        let whole = try runTrainer(ranks: 2, ["train"] + common + ["--run-dir", path("whole"), "--dump-parameters", path("whole.bin")])
        XCTAssertEqual(whole.exitCode, 0, whole.output)
        let first = try runTrainer(ranks: 2, ["train"] + common + ["--run-dir", path("first"), "--max-steps", "7",
                                                                   "--checkpoint-every", "7"])
        XCTAssertEqual(first.exitCode, 0, first.output)
        let second = try runTrainer(ranks: 2, ["train"] + common + ["--run-dir", path("second"), "--resume", path("first"),
                                                                    "--dump-parameters", path("second.bin")])
        XCTAssertEqual(second.exitCode, 0, second.output)
        XCTAssertTrue(second.output.contains("resumed from"), second.output)
        XCTAssertEqual(try ParameterDump.read(from: path("second.bin")), try ParameterDump.read(from: path("whole.bin")))

        let evaluation = try runTrainer(ranks: 3, ["eval", "--checkpoint", path("first"), "--cache-dir",
                                                   folder.appendingPathComponent("cache").path, "--output", path("eval")])
        XCTAssertEqual(evaluation.exitCode, 0, evaluation.output)
        XCTAssertTrue(evaluation.output.contains("macro"), evaluation.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("eval/metrics.json")))
    }

    func testCorruptCheckpointStopsEveryRank() throws {
        let folder = try temporaryDirectory(self)
        let config = try syntheticConfig(directory: folder.appendingPathComponent("data"), rows: 3_000, batchSize: 256,
                                         maxSteps: 3, epochs: 1)
        let configFile = folder.appendingPathComponent("config.json")
        try config.encodedJSON().write(to: configFile)
        let cache = folder.appendingPathComponent("cache").path
        let run = folder.appendingPathComponent("run")
        let first = try runTrainer(ranks: nil, ["train", "--config", configFile.path, "--cache-dir", cache, "--run-dir", run.path,
                                                "--checkpoint-every", "3"])
        XCTAssertEqual(first.exitCode, 0, first.output)
        let file = run.appendingPathComponent("checkpoints/step-3/" + CheckpointManifest.stateFileName(feature: 0))
        var bytes = try Data(contentsOf: file)
        bytes[7] ^= 0x40
        try bytes.write(to: file)

        let result = try runTrainer(ranks: 2, ["eval", "--checkpoint", run.path, "--cache-dir", cache], timeoutSeconds: 120)
        XCTAssertEqual(result.exitCode, 1, result.output)
        XCTAssertTrue(result.output.contains("table-0.state.bin is corrupt"), result.output)
    }
}
