import Foundation
import XCTest
@testable import DataPipeline

/// Strict decoding of `data.errors` and its place in the prepared-file fingerprint.
final class BadRowConfigTests: XCTestCase {
    private struct Root: Decodable {
        var data: DataConfig
    }

    /// Returns a minimal data section with `errors` set to `errorsJSON` (omitted when `nil`).
    private static func json(errors errorsJSON: String?) -> String {
        let errors = errorsJSON.map { ", \"errors\": \($0)" } ?? ""
        return """
        {"data": {"directory": "d", "log": "log.csv", "scene": {"column": "sc", "values": ["a"]},
          "tasks": ["click"], "split": {"column": "day", "trainMax": 1, "testMin": 2},
          "userColumn": "uid", "embeddingDimension": 4, "features": [{"name": "uid"}]\(errors)}}
        """
    }

    private func decode(errors: String?) throws -> BadRowConfig {
        try StrictDecoding.decode(Root.self, from: Data(Self.json(errors: errors).utf8)).data.errors
    }

    private func configError(errors: String, file: StaticString = #filePath, line: UInt = #line) -> ConfigError? {
        do {
            _ = try decode(errors: errors)
            XCTFail("expected a ConfigError", file: file, line: line)
        } catch let error as ConfigError {
            return error
        } catch {
            XCTFail("expected a ConfigError, got \(error)", file: file, line: line)
        }
        return nil
    }

    func testDefaultsWhenAbsent() throws {
        let errors = try decode(errors: nil)
        for kind in BadRowKind.allCases where kind != .missingJoinKey && kind != .unknownScene {
            XCTAssertEqual(errors[kind], .stop, kind.rawValue)
        }
        XCTAssertEqual(errors.missingJoinKey, .keep)
        XCTAssertEqual(errors.unknownScene, .skip)
        XCTAssertEqual(errors.maxLineBytes, 1_048_576)
        XCTAssertEqual(errors.maxSkippedShare, 0.01)
    }

    func testEveryKeyDecodes() throws {
        let errors = try decode(errors: """
            {"fieldCount": "skip", "unbalancedQuote": "skip", "lineTooLong": "skip", "invalidUTF8": "skip",
             "invalidLabel": "skip", "invalidNumber": "skip", "missingJoinKey": "stop", "unknownScene": "stop",
             "maxLineBytes": 4096, "maxSkippedShare": 0.5}
            """)
        for kind in BadRowKind.allCases where kind != .missingJoinKey && kind != .unknownScene {
            XCTAssertEqual(errors[kind], .skip, kind.rawValue)
        }
        XCTAssertEqual(errors.missingJoinKey, .stop)
        XCTAssertEqual(errors.unknownScene, .stop)
        XCTAssertEqual(errors.maxLineBytes, 4096)
        XCTAssertEqual(errors.maxSkippedShare, 0.5)
    }

    func testKeepOnlyForMissingJoinKey() {
        let error = configError(errors: #"{"fieldCount": "keep"}"#)
        XCTAssertEqual(error?.keyPath, "data.errors.fieldCount")
        XCTAssertEqual(error?.message, #"must be "stop" or "skip", got "keep""#)
    }

    func testUnknownPolicyRejected() {
        let error = configError(errors: #"{"missingJoinKey": "ignore"}"#)
        XCTAssertEqual(error?.keyPath, "data.errors.missingJoinKey")
        XCTAssertEqual(error?.message, #"must be "stop" or "skip" or "keep", got "ignore""#)
    }

    func testUnknownKeySuggestsClosest() {
        let error = configError(errors: #"{"fieldcounts": "skip"}"#)
        XCTAssertEqual(error?.keyPath, "data.errors.fieldcounts")
        XCTAssertTrue(error?.message.contains(#"did you mean "fieldCount""#) ?? false, "\(String(describing: error))")
    }

    func testShareOutOfRange() {
        let error = configError(errors: #"{"maxSkippedShare": 1.5}"#)
        XCTAssertEqual(error?.keyPath, "data.errors.maxSkippedShare")
        XCTAssertEqual(error?.message, "must be from 0 to 1, got 1.5")
    }

    func testLineLimitMustBePositive() {
        let error = configError(errors: #"{"maxLineBytes": 0}"#)
        XCTAssertEqual(error?.keyPath, "data.errors.maxLineBytes")
    }

    func testRoundTrip() throws {
        var config = BadRowConfig()
        config.invalidLabel = .skip
        config.missingJoinKey = .stop
        config.maxLineBytes = 99
        let data = try JSONEncoder().encode(config)
        XCTAssertEqual(try StrictDecoding.decode(BadRowConfig.self, from: data), config)
    }

    func testPolicyChangesFingerprint() throws {
        let directory = try TestSupport.temporaryDirectory(self)
        let fixture = BadRowFixture()
        try fixture.write(to: directory)
        var config = fixture.config(directory: directory)
        let first = try DataPreparation.prepare(config: config, dataDirectory: nil, cacheDirectory: directory + "/cache")
        config.errors.invalidLabel = .skip
        let second = try DataPreparation.prepare(config: config, dataDirectory: nil, cacheDirectory: directory + "/cache")

        XCTAssertNotEqual(first.fingerprint, second.fingerprint)
        XCTAssertFalse(second.reusedCache)
    }
}
