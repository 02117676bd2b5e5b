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
        var config = ModelConfig(name: "mlp")
        config.gateGamma = 2
        XCTAssertThrowsError(try config.make(layout: smallLayout, taskCount: 1, seed: 1)) { error in
            XCTAssertTrue("\(error)".hasPrefix("model.gateGamma"), "\(error)")
        }
    }

    func testConfigRejectsUnknownModel() {
        XCTAssertThrowsError(try ModelConfig(name: "pepnett").make(layout: smallLayout, taskCount: 1, seed: 1)) { error in
            XCTAssertEqual(error as? ModelError, .unknownModel(name: "pepnett", known: ["pepnet", "mlp"]))
        }
    }
}
