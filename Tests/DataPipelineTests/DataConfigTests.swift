import Foundation
import XCTest
@testable import DataPipeline

/// Strict decoding of the data section: valid configs decode, invalid ones name the key path.
final class DataConfigTests: XCTestCase {
    /// A wrapper like the full training config, so key paths start with `data`.
    private struct Root: Decodable {
        var data: DataConfig
    }

    private static let validJSON = """
    {"data": {
      "directory": "../shared/data/kuairand-pure",
      "log": "log_standard_4_25_to_5_08_pure.csv",
      "joins": [ {"file": "user_features_pure.csv", "key": "user_id"},
                 {"file": "video_features_basic_pure.csv", "key": "video_id"} ],
      "scene": {"column": "tab", "values": ["0", "1", "2", "4", "6"]},
      "tasks": ["is_click", "long_view", "is_like"],
      "split": {"column": "date", "trainMax": 20220506, "testMin": 20220507},
      "userColumn": "user_id",
      "embeddingDimension": 8,
      "features": [
        {"name": "user_id"},
        {"name": "music_id", "encoding": "hash", "hashBuckets": 100000},
        {"name": "tag", "firstToken": ","},
        {"name": "video_duration", "encoding": "quantile", "buckets": 16},
        {"name": "scene", "encoding": "scene"}
      ]
    }}
    """

    private func decode(_ json: String) throws -> DataConfig {
        try StrictDecoding.decode(Root.self, from: Data(json.utf8)).data
    }

    private func configError(_ json: String, file: StaticString = #filePath, line: UInt = #line) -> ConfigError? {
        do {
            _ = try decode(json)
            XCTFail("expected a ConfigError", file: file, line: line)
            return nil
        } catch let error as ConfigError {
            return error
        } catch {
            XCTFail("expected a ConfigError, got \(error)", file: file, line: line)
            return nil
        }
    }

    func testValidConfigDecodes() throws {
        let config = try decode(Self.validJSON)
        XCTAssertEqual(config.joins.count, 2)
        XCTAssertEqual(config.scene.values, ["0", "1", "2", "4", "6"])
        XCTAssertEqual(config.split.trainMax, 20_220_506)
        XCTAssertEqual(config.features[1].resolvedEncoding, .hash)
        XCTAssertEqual(config.features[1].hashBuckets, 100_000)
        XCTAssertEqual(config.features[0].resolvedEncoding, .vocabulary)
        XCTAssertEqual(config.features[2].firstToken, ",")
        XCTAssertEqual(config.features[3].buckets, 16)
        XCTAssertEqual(config.features[4].resolvedEncoding, .scene)
        XCTAssertEqual(config.embeddingDimension(ofFeature: 0), 8)
    }

    func testEncodeDecodeRoundTrip() throws {
        let config = try decode(Self.validJSON)
        let data = try JSONEncoder().encode(config)
        XCTAssertEqual(try StrictDecoding.decode(DataConfig.self, from: data), config)
    }

    func testUnknownKeySuggestsClosest() {
        let json = Self.validJSON.replacingOccurrences(of: "\"hashBuckets\"", with: "\"hashBucket\"")
        let error = configError(json)
        XCTAssertEqual(error?.keyPath, "data.features[1].hashBucket")
        XCTAssertTrue(error?.message.contains("did you mean \"hashBuckets\"") ?? false, "\(String(describing: error))")
    }

    func testUnknownTopLevelKey() {
        let json = Self.validJSON.replacingOccurrences(of: "\"userColumn\"", with: "\"usercolumn\"")
        let error = configError(json)
        // The unknown key is reported before the then missing "userColumn".
        XCTAssertEqual(error?.keyPath, "data.usercolumn")
        XCTAssertTrue(error?.message.contains("\"userColumn\"") ?? false)
    }

    func testMissingKeyNamesPath() {
        let json = Self.validJSON.replacingOccurrences(of: "\"column\": \"tab\", ", with: "")
        let error = configError(json)
        XCTAssertEqual(error?.keyPath, "data.scene.column")
        XCTAssertTrue(error?.message.contains("missing") ?? false)
    }

    func testWrongTypeNamesPath() {
        let json = Self.validJSON.replacingOccurrences(of: "\"buckets\": 16", with: "\"buckets\": \"16\"")
        let error = configError(json)
        XCTAssertEqual(error?.keyPath, "data.features[3].buckets")
        XCTAssertTrue(error?.message.contains("wrong type") ?? false, "\(String(describing: error))")
    }

    func testHashBucketsRange() {
        let json = Self.validJSON.replacingOccurrences(of: "100000", with: "1")
        let error = configError(json)
        XCTAssertEqual(error?.keyPath, "data.features[1].hashBuckets")
        XCTAssertTrue(error?.description.contains("data.features[1].hashBuckets") ?? false)
    }

    func testHashWithoutBucketsRejected() {
        let json = Self.validJSON.replacingOccurrences(of: ", \"hashBuckets\": 100000", with: "")
        XCTAssertEqual(configError(json)?.keyPath, "data.features[1].hashBuckets")
    }

    func testBucketsOnlyForQuantile() {
        let json = Self.validJSON.replacingOccurrences(of: "{\"name\": \"user_id\"}", with: "{\"name\": \"user_id\", \"buckets\": 4}")
        XCTAssertEqual(configError(json)?.keyPath, "data.features[0].buckets")
    }

    func testUnknownEncodingSuggests() {
        let json = Self.validJSON.replacingOccurrences(of: "\"encoding\": \"hash\"", with: "\"encoding\": \"hashed\"")
        let error = configError(json)
        XCTAssertEqual(error?.keyPath, "data.features[1].encoding")
        XCTAssertTrue(error?.message.contains("\"hash\"") ?? false)
    }

    func testDuplicateFeatureName() {
        let json = Self.validJSON.replacingOccurrences(of: "{\"name\": \"scene\", \"encoding\": \"scene\"}", with: "{\"name\": \"user_id\", \"column\": \"x\"}")
        let error = configError(json)
        XCTAssertEqual(error?.keyPath, "data.features")
        XCTAssertTrue(error?.message.contains("user_id") ?? false)
    }

    func testOverlappingSplitRejected() {
        let json = Self.validJSON.replacingOccurrences(of: "\"testMin\": 20220507", with: "\"testMin\": 20220506")
        XCTAssertEqual(configError(json)?.keyPath, "data.split.testMin")
    }

    func testEmbeddingDimensionRange() {
        let json = Self.validJSON.replacingOccurrences(of: "\"embeddingDimension\": 8", with: "\"embeddingDimension\": 0")
        XCTAssertEqual(configError(json)?.keyPath, "data.embeddingDimension")
    }

    func testEditDistance() {
        XCTAssertEqual(StrictDecoding.editDistance("kitten", "sitting"), 3)
        XCTAssertEqual(StrictDecoding.editDistance("", "abc"), 3)
        XCTAssertEqual(StrictDecoding.editDistance("trainMax", "trainmax"), 0)
        XCTAssertNil(StrictDecoding.closestKey(to: "zzzzzzzz", among: ["file", "key"]))
    }
}
