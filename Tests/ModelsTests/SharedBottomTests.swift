import Models
import TensorCore
import XCTest

final class SharedBottomTests: XCTestCase {
    func makeModel(dropout: Float = 0) throws -> SharedBottom {
        var options = SharedBottom.Options()
        options.bottomUnits = [7, 5]
        options.towerUnits = [4]
        options.dropout = dropout
        return try SharedBottom(options: options, layout: smallLayout, taskCount: 3, seed: 5)
    }

    /// Computes the float64 forward of `model` on `x` with the parameter values and masks of `reference`.
    func referenceLogits(_ model: SharedBottom, _ reference: Reference, _ x: Rows) -> Rows {
        let shared = reference.stack(x, model.bottom)
        return reference.towers(Array(repeating: shared, count: model.taskCount), model.towers)
    }

    func testGradientsMatchFiniteDifferences() throws {
        let model = try makeModel()
        randomizeBiases(model, seed: 11)
        checkGradientsAgainstReference(model, ModelBatch(rows: 16, layout: smallLayout, tasks: 3, seed: 1)) {
            self.referenceLogits(model, $0, $1)
        }
    }

    func testGradientsWithDropoutMatchFiniteDifferences() throws {
        let model = try makeModel(dropout: 0.3)
        randomizeBiases(model, seed: 22)
        checkGradientsAgainstReference(model, ModelBatch(rows: 16, layout: smallLayout, tasks: 3, seed: 2)) {
            self.referenceLogits(model, $0, $1)
        }
    }

    func testSharedGradientCheckAgrees() throws {
        // The float32 check of the shared test support, on the same model as the first test.
        let model = try makeModel()
        randomizeBiases(model, seed: 11)
        checkDirectionalGradients(model, ModelBatch(rows: 16, layout: smallLayout, tasks: 3, seed: 1), epsilon: 2e-3)
    }

    func testEveryParameterReceivesGradient() throws {
        let model = try makeModel(dropout: 0.1)
        let zero = parametersWithoutGradient(model, ModelBatch(rows: 32, layout: smallLayout, tasks: 3, seed: 6))
        XCTAssertEqual(zero, [], "parameters whose gradient stays zero")
    }

    func testOutputShapeAndParameterShapes() throws {
        let model = try makeModel()
        let batch = ModelBatch(rows: 5, layout: smallLayout, tasks: 3, seed: 7)
        XCTAssertEqual(modelLogits(model, embeddings: batch.embeddings, context: batch.context).shape, [5, 3])
        let shapes = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.shape) })
        XCTAssertEqual(shapes.count, 4 + 3 * 4)
        XCTAssertEqual(shapes["bottom.dense0.weight"], [12, 7])
        XCTAssertEqual(shapes["bottom.dense1.weight"], [7, 5])
        XCTAssertEqual(shapes["bottom.dense1.bias"], [5])
        XCTAssertEqual(shapes["tower2.dense0.weight"], [5, 4])
        XCTAssertEqual(shapes["tower2.head.weight"], [4, 1])
    }

    func testParameterCountOnKuaiRand() throws {
        // Bottom 288·128 + 128 + 128·64 + 64, towers 3 × (64·64 + 64 + 64 + 1).
        let model = try SharedBottom(options: SharedBottom.Options(), layout: kuaiRandLayout, taskCount: 3, seed: 1)
        let count = model.parameters.reduce(0) { $0 + $1.value.count }
        XCTAssertEqual(count, 57_923)
    }

    func testForwardMatchesFloat64Reference() throws {
        let model = try makeModel()
        randomizeBiases(model, seed: 12)
        let batch = ModelBatch(rows: 7, layout: smallLayout, tasks: 3, seed: 3)
        assertLogits(model, batch, match: referenceLogits(model, Reference(model), Rows(rowsOf: batch.embeddings)))
    }

    func testForwardWithDropoutMatchesFloat64Reference() throws {
        let model = try makeModel(dropout: 0.4)
        randomizeBiases(model, seed: 12)
        let batch = ModelBatch(rows: 7, layout: smallLayout, tasks: 3, seed: 3)
        let reference = Reference(model, rowSeeds: batch.context.rowSeeds)
        assertLogits(model, batch, training: true, match: referenceLogits(model, reference, Rows(rowsOf: batch.embeddings)))
    }

    func testHeadOfTaskTrainsAgainstThatTasksLabels() throws {
        let model = try makeModel()
        try assertHeadsTrainAgainstOwnLabels(model, ModelBatch(rows: 12, layout: smallLayout, tasks: 3, seed: 8))
    }

    func testBatchPermutationPermutesOutputs() throws {
        let model = try makeModel(dropout: 0.3)
        randomizeBiases(model, seed: 16)
        assertBatchPermutationPermutesOutputs(model, ModelBatch(rows: 11, layout: smallLayout, tasks: 3, seed: 11))
    }

    func testTowersDrawDifferentDropoutMasks() throws {
        // With identical towers and heads, only dropout can make two tasks' logits differ; equal
        // logits would mean the towers share one mask.
        let model = try makeModel(dropout: 0.5)
        randomizeBiases(model, seed: 17)
        for (tower, head) in zip(model.towers.towers.dropFirst(), model.towers.heads.dropFirst()) {
            tower.layers[0].weight.value = model.towers.towers[0].layers[0].weight.value
            tower.layers[0].bias.value = model.towers.towers[0].layers[0].bias.value
            head.weight.value = model.towers.heads[0].weight.value
            head.bias.value = model.towers.heads[0].bias.value
        }
        let batch = ModelBatch(rows: 8, layout: smallLayout, tasks: 3, seed: 12)
        let evaluation = modelLogits(model, embeddings: batch.embeddings, context: batch.context)
        let training = modelLogits(model, embeddings: batch.embeddings, context: batch.context, training: true)
        var evaluationDifference: Float = 0
        var trainingDifference: Float = 0
        for row in 0..<8 {
            evaluationDifference = max(evaluationDifference, abs(evaluation.scalars[row * 3] - evaluation.scalars[row * 3 + 1]))
            trainingDifference = max(trainingDifference, abs(training.scalars[row * 3] - training.scalars[row * 3 + 1]))
        }
        XCTAssertEqual(evaluationDifference, 0)
        XCTAssertGreaterThan(trainingDifference, 1e-4)
    }

    func testRegistryBuildsDefaults() throws {
        let model = try ModelConfig(name: "shared-bottom")
            .make(ModelContext(layout: smallLayout, taskCount: 2, sceneCount: 3, seed: 1))
        let sharedBottom = try XCTUnwrap(model as? SharedBottom)
        XCTAssertEqual(sharedBottom.bottom.layers.map(\.outputWidth), [128, 64])
        XCTAssertEqual(sharedBottom.towers.towers[1].layers.map(\.outputWidth), [64])
    }

    func testInvalidOptionsNameTheirKey() {
        assertOptionErrors([
            ModelConfig(name: "shared-bottom", options: ["bottomUnits": .array([])]),
            ModelConfig(name: "shared-bottom", options: ["bottomUnits": .number(64)]),
            ModelConfig(name: "shared-bottom", options: ["towerUnits": .array([.number(0)])]),
            ModelConfig(name: "shared-bottom", options: ["dropout": .number(1)]),
            ModelConfig(name: "shared-bottom", options: ["experts": .number(4)]),
        ])
    }
}
