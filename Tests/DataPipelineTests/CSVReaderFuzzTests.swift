import Foundation
import XCTest
@testable import DataPipeline

/// Seeded mutation fuzzing of the CSV reader and the dataset builder: every mutated file either
/// builds a dataset whose rows add up, or fails with a `CSVError` or `DataError` that has a
/// message. A crash ends the process after the seed is printed.
final class CSVReaderFuzzTests: XCTestCase {
    private static func policies(_ policy: BadRowPolicy) -> BadRowConfig {
        var errors = BadRowConfig()
        for kind in BadRowKind.allCases where kind != .missingJoinKey && kind != .unknownScene {
            errors[kind] = policy
        }
        errors.missingJoinKey = policy == .skip ? .skip : .keep
        errors.maxLineBytes = 48
        errors.maxSkippedShare = 1
        return errors
    }

    func testMutatedFiles() throws {
        var fixture = BadRowFixture(goodRows: 24)
        fixture.extraLogLines = [Array("u9,\"i1\",1,\"a\",\"0\",\"1\"\"2\"".utf8)]
        let directory = "unused"
        let validLog = fixture.logBytes
        let validItems = Array(((["item,cat"] + fixture.itemLines).joined(separator: "\n") + "\n").utf8)
        let budget = FuzzBudget()
        var failures = 0
        var outcomes = [String: Int]()

        let ran = budget.run("CSVReaderFuzzTests") { iteration in
            var mutator = ByteMutator(seed: budget.seed, iteration: iteration)
            let mutateItems = iteration % 5 == 0
            let log = mutateItems ? validLog : mutator.mutate(validLog)
            let items = mutateItems ? mutator.mutate(validItems) : validItems

            for policy in [BadRowPolicy.stop, .skip] {
                var config = fixture.config(directory: directory)
                config.errors = Self.policies(policy)
                let (outcome, problem) = check(log: log, items: items, config: config)
                outcomes[outcome, default: 0] += 1
                if let problem {
                    failures += 1
                    if failures <= 5 {
                        XCTFail("seed \(budget.seed) iteration \(iteration) policy \(policy.rawValue): \(problem); "
                                + "log \(BadRowHint.excerpt(log)), items \(BadRowHint.excerpt(items))")
                    }
                }
            }
        }
        XCTAssertGreaterThan(ran, 0)
        // The mutations must reach both the builder and the error paths to test anything.
        XCTAssertGreaterThan(outcomes["built", default: 0], ran / 20, "\(outcomes)")
        XCTAssertGreaterThan(outcomes["CSVError", default: 0], ran / 20, "\(outcomes)")
        XCTAssertGreaterThan(outcomes["DataError", default: 0], ran / 100, "\(outcomes)")
        print("CSVReaderFuzzTests: \(ran) iterations, outcomes \(outcomes.sorted { $0.key < $1.key })")
        XCTAssertEqual(failures, 0, "seed \(budget.seed): \(failures) of \(ran) iterations failed")
    }

    /// Returns the outcome ("built" or the error type) and a description of what went wrong, or
    /// `nil` if the input was handled correctly.
    private func check(log: [UInt8], items: [UInt8], config: DataConfig) -> (outcome: String, problem: String?) {
        let problem: String?
        do {
            problem = try buildAndCheck(log: log, items: items, config: config)
        } catch let error as CSVError {
            return ("CSVError", error.description.isEmpty ? "CSVError with an empty message: \(error)" : nil)
        } catch let error as DataError {
            return ("DataError", error.description.isEmpty ? "DataError with an empty message" : nil)
        } catch {
            return ("untyped", "untyped error \(type(of: error)): \(error)")
        }
        return ("built", problem)
    }

    /// Parses and builds, and returns a broken invariant of the result, if any.
    private func buildAndCheck(log: [UInt8], items: [UInt8], config: DataConfig) throws -> String? {
        let logTable = try CSVReader.parse(bytes: log, fileName: "log.csv", errors: config.errors)
        let itemTable = try CSVReader.parse(bytes: items, fileName: "items.csv", errors: config.errors)
        for table in [logTable, itemTable] {
            if config.errors.fieldCount == .stop, table.skippedRows.total != 0 {
                return "rows skipped under stop policies: \(table.skippedRows)"
            }
            for row in 0..<table.rowCount {
                for column in 0..<table.columnCount { _ = table.field(row: row, column: column) }
            }
        }

        let dataset = try DatasetBuilder(config: config, log: logTable, sideTables: [itemTable]).build()
        let report = dataset.report
        let accounted = report.trainRows + report.testRows + report.droppedOutOfSplit
            + report.skippedRows.total + report.skippedRows.unknownScene
        if accounted != report.logRows {
            return "rows do not add up: \(accounted) accounted for, \(report.logRows) in the log; \(report)"
        }
        for (split, name) in [(dataset.train, "train"), (dataset.test, "test")] {
            for (index, row) in split.features.enumerated()
            where row < 0 || Int(row) >= dataset.schema.tableRows[index % dataset.schema.tableRows.count] {
                return "\(name) feature value \(row) outside its table at position \(index)"
            }
        }
        return nil
    }
}
