import Foundation
import XCTest
@testable import DataPipeline

/// The prepared binary file: round trip, reuse, rebuild on change, and rejection of damaged files.
final class PreparedDatasetTests: XCTestCase {
    private struct Fixture {
        var dataDirectory: String
        var cacheDirectory: String
        var config: DataConfig
    }

    private func makeFixture() throws -> Fixture {
        let root = try TestSupport.temporaryDirectory(self)
        let data = root + "/data"
        let options = SyntheticDataOptions(rows: 3_000, users: 200, items: 150, days: 7, scenes: 3, seed: 7)
        try SyntheticDataGenerator(options: options).write(to: data)
        return Fixture(dataDirectory: data, cacheDirectory: root + "/cache",
                       config: SyntheticDataGenerator.defaultConfig(directory: data, options: options))
    }

    private func assertEqual(_ prepared: PreparedSplit, _ expected: EncodedSplit, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(prepared.count, expected.count, file: file, line: line)
        XCTAssertEqual(Array(prepared.features), expected.features, file: file, line: line)
        XCTAssertEqual(Array(prepared.labels), expected.labels, file: file, line: line)
        XCTAssertEqual(Array(prepared.scenes), expected.scenes, file: file, line: line)
        XCTAssertEqual(Array(prepared.users), expected.users, file: file, line: line)
        XCTAssertEqual(Array(prepared.rowIndices), expected.rowIndices, file: file, line: line)
    }

    func testRoundTripEqualsInMemoryBuild() throws {
        let fixture = try makeFixture()
        let result = try DataPreparation.prepare(config: fixture.config, dataDirectory: nil,
                                                 cacheDirectory: fixture.cacheDirectory)
        XCTAssertFalse(result.reusedCache)
        let expected = try DataPreparation.buildDataset(config: fixture.config)
        let prepared = try PreparedDataset.open(path: result.path)

        XCTAssertEqual(prepared.schema, expected.schema)
        XCTAssertEqual(prepared.fingerprint, result.fingerprint)
        XCTAssertEqual(prepared.report.trainRows, expected.report.trainRows)
        XCTAssertEqual(prepared.report.features, expected.report.features)
        XCTAssertGreaterThan(prepared.train.count, 0)
        XCTAssertGreaterThan(prepared.test.count, 0)
        assertEqual(prepared.train, expected.train)
        assertEqual(prepared.test, expected.test)

        let featureCount = expected.schema.featureCount
        let row = prepared.train.count / 2
        XCTAssertEqual(Array(prepared.train.featureRow(row)),
                       Array(expected.train.features[(row * featureCount)..<((row + 1) * featureCount)]))
        XCTAssertEqual(Array(prepared.test.labelRow(0)), Array(expected.test.labels[0..<3]))
    }

    func testWrittenFileEqualsEncodedBytes() throws {
        let fixture = try makeFixture()
        var dataset = try DataPreparation.buildDataset(config: fixture.config)
        try FileManager.default.createDirectory(atPath: fixture.cacheDirectory, withIntermediateDirectories: true)
        // Odd split sizes leave sections that end inside an 8-byte word of the checksum.
        for rows in [dataset.test.count, 1, 3] {
            dataset.test = Self.prefix(of: dataset.test, rows: rows, featureCount: dataset.schema.featureCount)
            let path = fixture.cacheDirectory + "/written-\(rows).bin"
            try PreparedFileFormat.writeAtomically(dataset, fingerprint: 0x1234_5678, to: path)
            let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            XCTAssertEqual(written, try PreparedFileFormat.encode(dataset, fingerprint: 0x1234_5678), "test rows \(rows)")
        }
    }

    private static func prefix(of split: EncodedSplit, rows: Int, featureCount: Int) -> EncodedSplit {
        let taskCount = split.labels.count / split.count
        return EncodedSplit(count: rows, features: Array(split.features.prefix(rows * featureCount)),
                            labels: Array(split.labels.prefix(rows * taskCount)), scenes: Array(split.scenes.prefix(rows)),
                            users: Array(split.users.prefix(rows)), rowIndices: Array(split.rowIndices.prefix(rows)))
    }

    func testSectionsAligned() throws {
        let fixture = try makeFixture()
        let result = try DataPreparation.prepare(config: fixture.config, dataDirectory: nil,
                                                 cacheDirectory: fixture.cacheDirectory)
        let prepared = try PreparedDataset.open(path: result.path)
        for split in [prepared.train, prepared.test] {
            XCTAssertEqual(Int(bitPattern: split.features.baseAddress) % 64, 0)
            XCTAssertEqual(Int(bitPattern: split.labels.baseAddress) % 64, 0)
            XCTAssertEqual(Int(bitPattern: split.users.baseAddress) % 64, 0)
            XCTAssertEqual(Int(bitPattern: split.rowIndices.baseAddress) % 64, 0)
        }
    }

    func testReusedWhenUnchanged() throws {
        let fixture = try makeFixture()
        let first = try DataPreparation.prepare(config: fixture.config, dataDirectory: nil,
                                                cacheDirectory: fixture.cacheDirectory)
        let second = try DataPreparation.prepare(config: fixture.config, dataDirectory: nil,
                                                 cacheDirectory: fixture.cacheDirectory)
        XCTAssertFalse(first.reusedCache)
        XCTAssertTrue(second.reusedCache)
        XCTAssertEqual(second.path, first.path)
        XCTAssertEqual(second.report, first.report)
    }

    func testDataDirectoryOverrideKeepsFingerprint() throws {
        let fixture = try makeFixture()
        var config = fixture.config
        config.directory = "/nonexistent"
        let first = try DataPreparation.prepare(config: fixture.config, dataDirectory: nil,
                                                cacheDirectory: fixture.cacheDirectory)
        let second = try DataPreparation.prepare(config: config, dataDirectory: fixture.dataDirectory,
                                                 cacheDirectory: fixture.cacheDirectory)
        XCTAssertTrue(second.reusedCache)
        XCTAssertEqual(second.fingerprint, first.fingerprint)
    }

    func testRebuiltWhenConfigChanges() throws {
        let fixture = try makeFixture()
        let first = try DataPreparation.prepare(config: fixture.config, dataDirectory: nil,
                                                cacheDirectory: fixture.cacheDirectory)
        var config = fixture.config
        config.features[0].minCount = 3
        let second = try DataPreparation.prepare(config: config, dataDirectory: nil,
                                                 cacheDirectory: fixture.cacheDirectory)
        XCTAssertFalse(second.reusedCache)
        XCTAssertNotEqual(second.fingerprint, first.fingerprint)
        XCTAssertNotEqual(second.path, first.path)
    }

    func testRebuiltWhenInputChanges() throws {
        let fixture = try makeFixture()
        let first = try DataPreparation.prepare(config: fixture.config, dataDirectory: nil,
                                                cacheDirectory: fixture.cacheDirectory)
        // Same size and same modification time are irrelevant: one byte of content changes.
        let itemsPath = fixture.dataDirectory + "/" + SyntheticDataGenerator.itemFile
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: itemsPath)))
        let index = try XCTUnwrap(bytes.lastIndex(of: UInt8(ascii: "1")))
        bytes[index] = UInt8(ascii: "2")
        try Data(bytes).write(to: URL(fileURLWithPath: itemsPath))

        let second = try DataPreparation.prepare(config: fixture.config, dataDirectory: nil,
                                                 cacheDirectory: fixture.cacheDirectory)
        XCTAssertFalse(second.reusedCache)
        XCTAssertNotEqual(second.fingerprint, first.fingerprint)
    }

    func testTruncatedFileRejectedThenRebuilt() throws {
        let fixture = try makeFixture()
        let first = try DataPreparation.prepare(config: fixture.config, dataDirectory: nil,
                                                cacheDirectory: fixture.cacheDirectory)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: first.path))
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: first.path))

        XCTAssertThrowsError(try PreparedDataset.open(path: first.path)) { error in
            guard case DataError.invalidPreparedFile(let path, let reason)? = error as? DataError else {
                return XCTFail("expected invalidPreparedFile, got \(error)")
            }
            XCTAssertEqual(path, first.path)
            XCTAssertTrue(reason.contains("truncated"), reason)
        }

        let second = try DataPreparation.prepare(config: fixture.config, dataDirectory: nil,
                                                 cacheDirectory: fixture.cacheDirectory)
        XCTAssertFalse(second.reusedCache)
        XCTAssertNoThrow(try PreparedDataset.open(path: second.path))
    }

    func testCorruptByteRejected() throws {
        let fixture = try makeFixture()
        let result = try DataPreparation.prepare(config: fixture.config, dataDirectory: nil,
                                                 cacheDirectory: fixture.cacheDirectory)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: result.path)))
        bytes[bytes.count - 10] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: result.path))
        XCTAssertThrowsError(try PreparedDataset.open(path: result.path)) { error in
            XCTAssertTrue("\(error)".contains("checksum"), "\(error)")
            XCTAssertTrue("\(error)".contains(result.path), "\(error)")
        }
    }

    func testShortFileRejected() throws {
        let directory = try TestSupport.temporaryDirectory(self)
        let path = directory + "/prepared-short.bin"
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try PreparedDataset.open(path: path)) { error in
            guard case DataError.invalidPreparedFile? = error as? DataError else {
                return XCTFail("expected invalidPreparedFile, got \(error)")
            }
        }
    }

    func testViewOutlivesDataset() throws {
        let fixture = try makeFixture()
        let result = try DataPreparation.prepare(config: fixture.config, dataDirectory: nil,
                                                 cacheDirectory: fixture.cacheDirectory)
        let expected = try DataPreparation.buildDataset(config: fixture.config)
        var split: PreparedSplit?
        do {
            split = try PreparedDataset.open(path: result.path).train
        }
        // The dataset object is gone; the split keeps the mapping alive.
        XCTAssertEqual(Array(split!.scenes), expected.train.scenes)
    }
}
