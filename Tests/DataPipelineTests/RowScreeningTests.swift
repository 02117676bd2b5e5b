import Foundation
import XCTest
@testable import DataPipeline

/// The row checks run on row ranges concurrently. These tests put two bad rows at every pair of
/// positions in a small log, so each range boundary falls before, between and after them.
final class RowScreeningTests: XCTestCase {
    static let goodLines = (0..<9).map { Array(BadRowFixture.goodRow($0).utf8) }
    static let badLabel = Array("u1,i1,1,a,2,5".utf8)
    static let badNumber = Array("u1,i1,1,a,1,NaN".utf8)

    /// Returns the good lines with `badLabel` inserted at `labelIndex` and `badNumber` after it
    /// at `numberIndex` (indices into the final list of data lines).
    private func lines(labelIndex: Int, numberIndex: Int) -> [[UInt8]] {
        var lines = Self.goodLines
        lines.insert(Self.badLabel, at: labelIndex)
        lines.insert(Self.badNumber, at: numberIndex)
        return lines
    }

    private func build(_ lines: [[UInt8]], _ policy: BadRowPolicy) throws -> EncodedDataset {
        let directory = try TestSupport.temporaryDirectory(self)
        let fixture = BadRowFixture(goodRows: 0, extraLogLines: lines)
        try fixture.write(to: directory)
        var config = fixture.config(directory: directory)
        config.errors.invalidLabel = policy
        config.errors.invalidNumber = policy
        config.errors.maxSkippedShare = 1
        return try DataPreparation.buildDataset(config: config)
    }

    func testStopNamesFirstBadLine() throws {
        let count = Self.goodLines.count + 2
        for labelIndex in 0..<count {
            for numberIndex in (labelIndex + 1)..<count {
                let lines = lines(labelIndex: labelIndex, numberIndex: numberIndex)
                let label = "bad label at data line \(labelIndex), bad number at \(numberIndex)"
                XCTAssertThrowsError(try build(lines, .stop), label) { error in
                    let text = "\(error)"
                    XCTAssertTrue(text.hasPrefix("log.csv: line \(2 + labelIndex):"), "\(label): \(text)")
                    XCTAssertTrue(text.contains("label column \"click\""), "\(label): \(text)")
                }
            }
        }
    }

    func testSkipCountsBothRows() throws {
        let count = Self.goodLines.count + 2
        for labelIndex in 0..<count {
            for numberIndex in (labelIndex + 1)..<count {
                let dataset = try build(lines(labelIndex: labelIndex, numberIndex: numberIndex), .skip)
                let label = "bad label at data line \(labelIndex), bad number at \(numberIndex)"
                XCTAssertEqual(dataset.report.skippedRows.invalidLabel, 1, label)
                XCTAssertEqual(dataset.report.skippedRows.invalidNumber, 1, label)
                XCTAssertEqual(dataset.train.count + dataset.test.count, Self.goodLines.count, label)
            }
        }
    }
}
