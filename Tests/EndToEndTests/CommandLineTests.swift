import Foundation
import XCTest

/// The `trainer` command line: mistakes give one message, the usage and exit status 2.
final class CommandLineTests: XCTestCase {
    func testUnknownOptionSuggestsClosest() throws {
        let result = try runTrainer(ranks: nil, ["train", "--epoch", "2"])
        XCTAssertEqual(result.exitCode, 2)
        XCTAssertTrue(result.output.contains("unknown option --epoch; did you mean --epochs?"), result.output)
        XCTAssertTrue(result.output.contains("usage: trainer train [options]"), result.output)
    }

    func testMissingValue() throws {
        let result = try runTrainer(ranks: nil, ["train", "--config"])
        XCTAssertEqual(result.exitCode, 2)
        XCTAssertTrue(result.output.contains("option --config needs a value (FILE)"), result.output)
    }

    func testMalformedNumber() throws {
        let result = try runTrainer(ranks: nil, ["train", "--batch-size", "12x"])
        XCTAssertEqual(result.exitCode, 2)
        XCTAssertTrue(result.output.contains("option --batch-size needs a whole number, got \"12x\""), result.output)
    }

    func testUnknownCommand() throws {
        let result = try runTrainer(ranks: nil, ["fit"])
        XCTAssertEqual(result.exitCode, 2)
        XCTAssertTrue(result.output.contains("unknown command \"fit\""), result.output)
    }

    func testHelpListsEveryOptionWithDefault() throws {
        let result = try runTrainer(ranks: nil, ["train", "--help"])
        XCTAssertEqual(result.exitCode, 0)
        for option in ["--config FILE", "--data-dir DIR", "--debug", "--ranks N", "--check-every N", "--dump-parameters FILE"] {
            XCTAssertTrue(result.output.contains(option), "help lacks \(option):\n\(result.output)")
        }
        XCTAssertTrue(result.output.contains("(default: runs/cache)"), result.output)
    }

    func testInvalidConfigNamesKeyPath() throws {
        let folder = try temporaryDirectory(self)
        let file = folder.appendingPathComponent("bad.json")
        var text = try String(contentsOf: repositoryRoot.appendingPathComponent("configs/pepnet-kuairand.json"), encoding: .utf8)
        text = text.replacingOccurrences(of: "\"gateGamma\"", with: "\"gateGama\"")
        try text.write(to: file, atomically: true, encoding: .utf8)
        let result = try runTrainer(ranks: nil, ["check-config", "--config", file.path])
        XCTAssertEqual(result.exitCode, 1)
        XCTAssertTrue(result.output.contains("bad.json: invalid config at model.gateGama: is not an option of model \"pepnet\"; did you mean \"gateGamma\"?"), result.output)
    }

    func testContradictingSettingsAreRejected() throws {
        // Two task weights for three tasks: rejected by check-config, and by train before any data is read.
        let folder = try temporaryDirectory(self)
        let file = folder.appendingPathComponent("weights.json")
        var text = try String(contentsOf: repositoryRoot.appendingPathComponent("configs/pepnet-kuairand.json"), encoding: .utf8)
        text = text.replacingOccurrences(of: "\"batchSize\": 1024,", with: "\"batchSize\": 1024, \"taskWeights\": [1, 1],")
        try text.write(to: file, atomically: true, encoding: .utf8)
        let check = try runTrainer(ranks: nil, ["check-config", "--config", file.path])
        XCTAssertEqual(check.exitCode, 1)
        XCTAssertTrue(check.output.contains("train.taskWeights: has 2 weights but data.tasks lists 3 tasks"), check.output)

        let cache = folder.appendingPathComponent("cache")
        let train = try runTrainer(ranks: nil, ["train", "--config", file.path, "--cache-dir", cache.path,
                                                "--run-dir", folder.appendingPathComponent("run").path])
        XCTAssertEqual(train.exitCode, 1)
        XCTAssertTrue(train.output.contains("train.taskWeights"), train.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: cache.path), "no data was prepared")
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder.appendingPathComponent("run").path), "no run directory was created")
    }

    func testCheckConfigAcceptsShippedConfigs() throws {
        for name in ["pepnet-kuairand.json", "pepnet-kuairand-duration.json", "mlp-kuairand.json"] {
            let result = try runTrainer(ranks: nil, ["check-config", "--config", "configs/" + name])
            XCTAssertEqual(result.exitCode, 0, "\(name): \(result.output)")
            XCTAssertTrue(result.output.contains("valid"), result.output)
        }
    }

    func testLogLevelRejected() throws {
        let result = try runTrainer(ranks: nil, ["train", "--log-level", "loud"])
        XCTAssertEqual(result.exitCode, 2)
        XCTAssertTrue(result.output.contains("loud"), result.output)
    }
}
