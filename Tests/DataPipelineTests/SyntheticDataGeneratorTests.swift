import Foundation
import XCTest
@testable import DataPipeline

final class SyntheticDataGeneratorTests: XCTestCase {
    private func files(in directory: String) throws -> [Data] {
        try [SyntheticDataGenerator.logFile, SyntheticDataGenerator.userFile, SyntheticDataGenerator.itemFile]
            .map { try Data(contentsOf: URL(fileURLWithPath: directory + "/" + $0)) }
    }

    func testSameSeedSameBytes() throws {
        let root = try TestSupport.temporaryDirectory(self)
        let options = SyntheticDataOptions(rows: 5_000, users: 300, items: 200, seed: 42)
        try SyntheticDataGenerator(options: options).write(to: root + "/a")
        try SyntheticDataGenerator(options: options).write(to: root + "/b")
        var other = options
        other.seed = 43
        try SyntheticDataGenerator(options: other).write(to: root + "/c")

        let a = try files(in: root + "/a")
        let b = try files(in: root + "/b")
        let c = try files(in: root + "/c")
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a[0], c[0])
    }

    func testContextIdsAddOneHashedColumnAndLeaveTheRestUnchanged() throws {
        let root = try TestSupport.temporaryDirectory(self)
        let plain = SyntheticDataOptions(rows: 3_000, users: 200, items: 100, seed: 8)
        var withContext = plain
        withContext.contextIdSpace = 100_000_000
        try SyntheticDataGenerator(options: plain).write(to: root + "/plain")
        try SyntheticDataGenerator(options: withContext).write(to: root + "/context")

        let plainLines = try String(contentsOfFile: root + "/plain/log.csv", encoding: .utf8).split(separator: "\n")
        let contextLines = try String(contentsOfFile: root + "/context/log.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(contextLines.count, plainLines.count)
        XCTAssertEqual(contextLines[0], plainLines[0] + ",context_id")
        var largest = 0
        for (plainLine, contextLine) in zip(plainLines.dropFirst(), contextLines.dropFirst()) {
            XCTAssertTrue(contextLine.hasPrefix(plainLine + ","), "\(contextLine) does not extend \(plainLine)")
            let id = try XCTUnwrap(Int(contextLine.split(separator: ",").last!))
            XCTAssertLessThan(id, 100_000_000)
            largest = max(largest, id)
        }
        XCTAssertGreaterThan(largest, 50_000_000, "ids spread over the whole space")

        let config = SyntheticDataGenerator.defaultConfig(directory: root + "/context", options: withContext)
        let dataset = try DataPreparation.buildDataset(config: config)
        let index = try XCTUnwrap(dataset.schema.featureNames.firstIndex(of: "context_id"))
        XCTAssertEqual(dataset.schema.tableRows[index], 100_000_000)
        XCTAssertEqual(dataset.schema.featureNames.last, "scene")
    }

    func testDefaultConfigLoads() throws {
        let directory = try TestSupport.temporaryDirectory(self)
        let options = SyntheticDataOptions(rows: 7_000, users: 400, items: 300, days: 14, scenes: 5, seed: 3)
        try SyntheticDataGenerator(options: options).write(to: directory)
        let config = SyntheticDataGenerator.defaultConfig(directory: directory, options: options)
        let dataset = try DataPreparation.buildDataset(config: config)

        XCTAssertEqual(dataset.report.logRows, 7_000)
        XCTAssertEqual(dataset.report.trainRows + dataset.report.testRows, 7_000)
        // Rows are spread evenly over 14 days and the last 2 are the test split.
        XCTAssertEqual(dataset.report.testRows, 1_000)
        XCTAssertEqual(dataset.schema.featureCount, 11)
        XCTAssertEqual(dataset.schema.taskNames, ["click", "long_view", "like"])
        XCTAssertGreaterThan(dataset.report.missingJoinKeys[SyntheticDataGenerator.itemFile] ?? 0, 0)
        XCTAssertEqual(dataset.report.missingJoinKeys[SyntheticDataGenerator.userFile], 0)
    }

    func testDatesCrossMonthAndLeapDay() {
        let options = SyntheticDataOptions(rows: 0, startDate: 20_240_227)
        XCTAssertEqual(options.date(ofDay: 0), 20_240_227)
        XCTAssertEqual(options.date(ofDay: 2), 20_240_229)
        XCTAssertEqual(options.date(ofDay: 3), 20_240_301)
        XCTAssertEqual(SyntheticDataOptions(rows: 0, startDate: 20_231_231).date(ofDay: 1), 20_240_101)
    }

    func testSceneClickRatesFollowConfig() throws {
        let directory = try TestSupport.temporaryDirectory(self)
        let rates = [0.1, 0.6, 0.3]
        let options = SyntheticDataOptions(rows: 60_000, users: 1_000, items: 500, days: 7, scenes: 3, seed: 11,
                                           sceneClickRates: rates, sceneRowShares: [1, 1, 1])
        try SyntheticDataGenerator(options: options).write(to: directory)
        let table = try CSVReader.read(path: directory + "/" + SyntheticDataGenerator.logFile)
        let scene = try XCTUnwrap(table.columnIndex(named: "scene"))
        let click = try XCTUnwrap(table.columnIndex(named: "click"))
        let like = try XCTUnwrap(table.columnIndex(named: "like"))

        var clicks = [Double](repeating: 0, count: 3)
        var rows = [Double](repeating: 0, count: 3)
        var likesWithoutClick = 0.0
        var likesWithClick = 0.0
        for row in 0..<table.rowCount {
            let s = Int(table.field(row: row, column: scene)!)!
            let clicked = table.field(row: row, column: click) == "1"
            rows[s] += 1
            if clicked { clicks[s] += 1 }
            if table.field(row: row, column: like) == "1" {
                if clicked { likesWithClick += 1 } else { likesWithoutClick += 1 }
            }
        }
        let observed = (0..<3).map { clicks[$0] / rows[$0] }
        for s in 0..<3 {
            // The spread of hidden effects pulls rates toward 0.5, so allow 0.1.
            XCTAssertEqual(observed[s], rates[s], accuracy: 0.1, "scene \(s): observed \(observed)")
            XCTAssertGreaterThan(rows[s], 15_000, "scene \(s) row count")
        }
        XCTAssertLessThan(observed[0], observed[2])
        XCTAssertLessThan(observed[2], observed[1])
        XCTAssertGreaterThan(likesWithClick, 5 * likesWithoutClick)
    }
}
