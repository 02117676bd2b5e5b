import Foundation
import XCTest
@testable import Training

private struct SampleConfig: Codable, Equatable {
    var model: String
    var learningRate: Double
    var batchSize: Int
}

private struct StepRecord: Codable, Equatable {
    var step: Int
    var note: String
}

final class RunDirectoryTests: XCTestCase {
    private var runsRoot: URL!

    override func setUpWithError() throws {
        runsRoot = FileManager.default.temporaryDirectory.appendingPathComponent("runs-\(UUID().uuidString)")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: runsRoot)
    }

    func testCreateWritesRunFiles() throws {
        let run = try RunDirectory.create(runsRoot: runsRoot, name: "first", modelName: "pepnet")
        XCTAssertEqual(run.url.lastPathComponent, "first")

        let config = SampleConfig(model: "pepnet", learningRate: 0.001, batchSize: 512)
        try run.writeConfig(config)
        try run.writeMetrics(["auc": 0.75])
        try run.appendMetricsLine(StepRecord(step: 1, note: "two\nlines"))
        try run.appendMetricsLine(StepRecord(step: 2, note: "b"))
        let log = try LogFile(url: run.logFileURL)
        Logger(rank: 0, worldSize: 1, console: log).info("started")
        log.close()

        let files = try FileManager.default.contentsOfDirectory(atPath: run.url.path).sorted()
        XCTAssertEqual(files, ["config.json", "metrics.json", "metrics.jsonl", "train.log"])

        let configText = try String(contentsOf: run.configURL, encoding: .utf8)
        XCTAssertEqual(try JSONDecoder().decode(SampleConfig.self, from: Data(configText.utf8)), config)
        XCTAssertEqual(configText, """
            {
              "batchSize" : 512,
              "learningRate" : 0.001,
              "model" : "pepnet"
            }

            """)

        let lines = try String(contentsOf: run.metricsLinesURL, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(try JSONDecoder().decode(StepRecord.self, from: Data(lines[0].utf8)),
                       StepRecord(step: 1, note: "two\nlines"))
        XCTAssertEqual(String(lines[1]), #"{"note":"b","step":2}"#)
        XCTAssertTrue(try String(contentsOf: run.logFileURL, encoding: .utf8).hasSuffix("INFO started\n"))
    }

    func testRejectsNonEmptyDirectory() throws {
        let run = try RunDirectory.create(runsRoot: runsRoot, name: "taken", modelName: "pepnet")
        try run.writeMetrics(["auc": 0.5])

        XCTAssertThrowsError(try RunDirectory.create(runsRoot: runsRoot, name: "taken", modelName: "pepnet")) { error in
            XCTAssertEqual(error as? RunDirectoryError, .notEmpty(path: run.url.path))
            XCTAssertTrue("\(error)".contains(run.url.path))
            XCTAssertTrue("\(error)".contains("overwrite"))
        }
    }

    func testReusesEmptyDirectory() throws {
        let folder = runsRoot.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let run = try RunDirectory.create(runsRoot: runsRoot, name: "empty", modelName: "pepnet")
        XCTAssertEqual(run.url.standardizedFileURL.path, folder.standardizedFileURL.path)
    }

    func testOverwriteRemovesOnlyRunFiles() throws {
        let run = try RunDirectory.create(runsRoot: runsRoot, name: "again", modelName: "pepnet")
        try run.writeMetrics(["auc": 0.5])
        try run.appendMetricsLine(StepRecord(step: 1, note: "old"))
        let keptURL = run.url.appendingPathComponent("checkpoint.bin")
        try Data([1, 2, 3]).write(to: keptURL)

        let reused = try RunDirectory.create(runsRoot: runsRoot, name: "again", modelName: "pepnet", overwrite: true)
        let files = try FileManager.default.contentsOfDirectory(atPath: reused.url.path)
        XCTAssertEqual(files, ["checkpoint.bin"])
    }

    func testAtomicWriteLeavesNoTemporaryFile() throws {
        let run = try RunDirectory.create(runsRoot: runsRoot, name: "atomic", modelName: "pepnet")
        try run.writeMetrics(["auc": 0.5])
        try run.writeMetrics(["auc": 0.625])

        let files = try FileManager.default.contentsOfDirectory(atPath: run.url.path)
        XCTAssertEqual(files, ["metrics.json"])
        let decoded = try JSONDecoder().decode([String: Double].self, from: Data(contentsOf: run.metricsURL))
        XCTAssertEqual(decoded, ["auc": 0.625])
    }

    func testWriteFailureNamesPath() throws {
        let run = try RunDirectory.create(runsRoot: runsRoot, name: "gone", modelName: "pepnet")
        try FileManager.default.removeItem(at: run.url)

        XCTAssertThrowsError(try run.writeMetrics(["auc": 0.5])) { error in
            guard case let .writeFailed(path, reason)? = error as? RunDirectoryError else {
                return XCTFail("expected writeFailed, got \(error)")
            }
            XCTAssertEqual(path, run.metricsURL.path)
            XCTAssertFalse(reason.isEmpty)
        }
        XCTAssertThrowsError(try run.appendMetricsLine(StepRecord(step: 1, note: "x"))) { error in
            XCTAssertTrue("\(error)".contains(run.metricsLinesURL.path))
        }
    }

    func testTimestampName() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let date = calendar.date(from: DateComponents(year: 2026, month: 12, day: 4, hour: 20, minute: 31, second: 5))!
        XCTAssertEqual(RunDirectory.timestampName(modelName: "pepnet", date: date), "20261204-203105-pepnet")
        XCTAssertEqual(RunDirectory.timestampName(modelName: "My Model/2", date: date), "20261204-203105-my-model-2")
    }

    func testCreateWithoutNameUsesTimestamp() throws {
        let date = Date(timeIntervalSince1970: 0)
        let run = try RunDirectory.create(runsRoot: runsRoot, modelName: "mmoe", date: date)
        XCTAssertEqual(run.url.lastPathComponent, "19700101-000000-mmoe")
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.url.path))
    }

    func testRejectsInvalidNames() {
        for name in ["", ".", "..", "a/b"] {
            XCTAssertThrowsError(try RunDirectory.create(runsRoot: runsRoot, name: name, modelName: "pepnet"),
                                 "name '\(name)'") { error in
                XCTAssertEqual(error as? RunDirectoryError, .invalidName(name: name))
            }
        }
    }

    func testRejectsFileInPlaceOfDirectory() throws {
        try FileManager.default.createDirectory(at: runsRoot, withIntermediateDirectories: true)
        let fileURL = runsRoot.appendingPathComponent("plain")
        try Data().write(to: fileURL)

        XCTAssertThrowsError(try RunDirectory.create(runsRoot: runsRoot, name: "plain", modelName: "pepnet")) { error in
            XCTAssertEqual(error as? RunDirectoryError, .notADirectory(path: fileURL.path))
        }
    }

    func testCreateFailureNamesPath() throws {
        // A regular file as the runs folder makes creating anything below it fail, even as root.
        try FileManager.default.createDirectory(at: runsRoot, withIntermediateDirectories: true)
        let blocker = runsRoot.appendingPathComponent("blocker")
        try Data().write(to: blocker)

        XCTAssertThrowsError(try RunDirectory.create(runsRoot: blocker, name: "run", modelName: "pepnet")) { error in
            guard case let .createFailed(path, _)? = error as? RunDirectoryError else {
                return XCTFail("expected createFailed, got \(error)")
            }
            XCTAssertEqual(path, blocker.appendingPathComponent("run").path)
            XCTAssertTrue("\(error)".contains("writable"))
        }
    }

    func testReportWrittenAsMetricsJSON() throws {
        let run = try RunDirectory.create(runsRoot: runsRoot, name: "report", modelName: "pepnet")
        let report = try EvaluationReport(scores: [0.9, 0.1, 0.4], labels: [1, 0, 0], users: [1, 1, 2],
                                          scenes: [0, 0, 0], taskNames: ["click"], sceneNames: ["a"])
        try run.writeMetrics(report)

        let text = try String(contentsOf: run.metricsURL, encoding: .utf8)
        XCTAssertTrue(text.contains("\"gauc\" : 1"), text)
        XCTAssertEqual(try JSONDecoder().decode(EvaluationReport.self, from: Data(text.utf8)), report)
    }
}
