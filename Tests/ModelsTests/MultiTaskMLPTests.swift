import Models
import TensorCore
import XCTest

final class MultiTaskMLPTests: XCTestCase {
    func testGradientsMatchFiniteDifferences() throws {
        var options = MultiTaskMLP.Options()
        options.hiddenUnits = [5, 3]
        options.dropout = 0.2
        let model = try MultiTaskMLP(options: options, layout: smallLayout, taskCount: 2, seed: 3)
        randomizeBiases(model, seed: 5)
        checkDirectionalGradients(model, ModelBatch(rows: 16, layout: smallLayout, tasks: 2, seed: 4))
    }

    func testConfigRejectsOptionOfAnotherModel() {
        let config = ModelConfig(name: "mlp", options: ["gateGamma": .number(2)])
        XCTAssertThrowsError(try config.make(ModelContext(layout: smallLayout, taskCount: 1, sceneCount: 3, seed: 1))) { error in
            XCTAssertEqual("\(error)", "model.gateGamma: is not an option of model \"mlp\", which accepts hiddenUnits, dropout")
        }
    }

    func testConfigSuggestsClosestOption() {
        let config = ModelConfig(name: "pepnet", options: ["gateGama": .number(2)])
        XCTAssertThrowsError(try config.make(ModelContext(layout: smallLayout, taskCount: 1, sceneCount: 3, seed: 1))) { error in
            XCTAssertEqual("\(error)", "model.gateGama: is not an option of model \"pepnet\"; did you mean \"gateGamma\"?")
        }
    }

    func testConfigRejectsWrongOptionType() {
        let config = ModelConfig(name: "mlp", options: ["hiddenUnits": .array([.number(64), .string("32")])])
        XCTAssertThrowsError(try config.make(ModelContext(layout: smallLayout, taskCount: 1, sceneCount: 3, seed: 1))) { error in
            XCTAssertEqual("\(error)", "model.hiddenUnits: expected an array of whole numbers, got an array")
        }
    }

    func testConfigRejectsUnknownModel() {
        XCTAssertThrowsError(try ModelConfig(name: "pepnett").make(ModelContext(layout: smallLayout, taskCount: 1, sceneCount: 3, seed: 1))) { error in
            XCTAssertEqual(error as? ModelError, .unknownModel(name: "pepnett", known: ModelRegistry.entries.map(\.name)))
            XCTAssertTrue("\(error)".contains("choose one of pepnet, mlp"), "\(error)")
        }
    }
}
