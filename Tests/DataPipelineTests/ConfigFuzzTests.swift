import Foundation
import XCTest
@testable import DataPipeline

/// Seeded mutation fuzzing of strict config decoding: every mutated config file either decodes
/// or fails with a `ConfigError` that has a message.
final class ConfigFuzzTests: XCTestCase {
    /// A whole config file as the trainer reads it, with the model and train sections kept as
    /// plain JSON because their types live in other modules.
    private struct WholeConfig: Decodable {
        var data: DataConfig
        var model: JSONValue
        var train: JSONValue?

        enum CodingKeys: String, CodingKey, CaseIterable { case data, model, train }

        init(from decoder: Decoder) throws {
            try StrictDecoding.rejectUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
            let container = try decoder.container(keyedBy: CodingKeys.self)
            data = try container.decode(DataConfig.self, forKey: .data)
            model = try container.decode(JSONValue.self, forKey: .model)
            train = try container.decodeIfPresent(JSONValue.self, forKey: .train)
        }
    }

    /// Returns a description of what went wrong, or `nil` if decoding succeeded or failed with a
    /// `ConfigError` that has a message.
    private func check(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as ConfigError {
            return error.message.isEmpty ? "ConfigError with an empty message at \(error.keyPath)" : nil
        } catch {
            return "untyped error \(type(of: error)): \(error)"
        }
    }

    func testMutatedConfigs() throws {
        let path = TestSupport.packageRoot.appendingPathComponent("configs/pepnet-kuairand.json").path
        var whole = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        // Give the parser the errors section too.
        let errors = #""errors": {"fieldCount": "skip", "maxLineBytes": 4096, "maxSkippedShare": 0.05}, "log""#
        whole = Array(String(decoding: whole, as: UTF8.self)
            .replacingOccurrences(of: "\"log\"", with: errors).utf8)
        let dataSection = Array(try JSONSerialization.data(
            withJSONObject: try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(whole)) as? [String: Any])?["data"])))
        XCTAssertNoThrow(try StrictDecoding.decode(WholeConfig.self, from: Data(whole)))

        let budget = FuzzBudget()
        var failures = 0
        let ran = budget.run("ConfigFuzzTests") { iteration in
            var mutator = ByteMutator(seed: budget.seed, iteration: iteration)
            let input = iteration % 2 == 0 ? mutator.mutate(whole) : mutator.mutate(dataSection)
            let problem = check {
                if iteration % 2 == 0 {
                    _ = try StrictDecoding.decode(WholeConfig.self, from: Data(input))
                } else {
                    _ = try StrictDecoding.decode(DataConfig.self, from: Data(input))
                }
            }
            if let problem {
                failures += 1
                if failures <= 5 {
                    XCTFail("seed \(budget.seed) iteration \(iteration): \(problem); input \(BadRowHint.excerpt(input))")
                }
            }
        }
        XCTAssertGreaterThan(ran, 0)
        XCTAssertEqual(failures, 0, "seed \(budget.seed): \(failures) of \(ran) iterations failed")
    }
}
