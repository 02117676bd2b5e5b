import XCTest
@testable import Models
import TensorCore

/// The meta units' two ways, forming the generated weights with `batchedMatmul` or not, through
/// the whole M2M model: same logits, same parameter and embedding gradients.
final class M2MMetaPathTests: XCTestCase {
    func makeModel() throws -> M2M {
        var options = M2M.Options()
        options.experts = 3
        options.expertUnits = [6, 5]
        options.taskEmbeddingWidth = 3
        options.sceneFeatures = ["scene"]
        options.scenarioWidth = 4
        options.metaLayers = 2
        let model = try M2M(options: options, layout: smallLayout, taskCount: 3, seed: 7)
        randomizeBiases(model, seed: 8)
        return model
    }

    /// Runs forward and backward with the meta units' way forced, returning the logits, every
    /// parameter's gradient and the embedding gradient.
    func run(_ model: M2M, _ batch: ModelBatch, formingWeights: Bool?) -> (logits: Tensor, gradients: [Tensor]) {
        model.metaUnitsFormWeights = formingWeights
        defer { model.metaUnitsFormWeights = nil }
        for parameter in model.parameters { parameter.zeroGradient() }
        let graph = Graph(training: true)
        let input = graph.input(batch.embeddings)
        let logits = model.forward(embeddings: input, batch: batch.context)
        let loss = binaryCrossEntropyWithLogits(logits, labels: batch.labels, taskWeights: [1, 1, 1],
                                                normalizer: Float(batch.context.rowCount))
        graph.backward(loss)
        return (logits.value, model.parameters.map(\.gradient) + [input.gradient!])
    }

    /// Checks that the model without formed weights (forced, and left to choose) matches the
    /// model forming them on `batch`.
    func checkWaysAgree(_ batch: ModelBatch, _ label: String) throws {
        let model = try makeModel()
        let formed = run(model, batch, formingWeights: true)
        let names = model.parameters.map(\.name) + ["embeddings"]
        for forming in [false, nil] as [Bool?] {
            let fast = run(model, batch, formingWeights: forming)
            let way = "\(label), formingWeights \(forming.map(String.init) ?? "chosen")"
            XCTAssertEqual(fast.logits.shape, formed.logits.shape, way)
            for (index, (a, b)) in zip(fast.logits.scalars, formed.logits.scalars).enumerated() {
                XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b)), "\(way): logit \(index)")
            }
            for (name, (fastGradient, formedGradient)) in zip(names, zip(fast.gradients, formed.gradients)) {
                let scale = max(1e-3, formedGradient.scalars.map(abs).max() ?? 0)
                let difference = zip(fastGradient.scalars, formedGradient.scalars).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(difference, 1e-4 * scale, "\(way): gradient of \(name)")
            }
        }
    }

    func testWaysAgreeWithSceneEmbedding() throws {
        // 40 rows of 3 scenes whose scene blocks hold one vector per scene: the scenario rows
        // take 3 values, so the grouped way runs.
        let batch = ModelBatch(rows: 40, layout: smallLayout, tasks: 3, seed: 9)
        var embeddings = batch.embeddings
        let sceneOffset = smallLayout.offsets[4]
        for row in 0..<40 {
            let scene = Float(batch.context.scenes[row])
            embeddings.scalars[row * smallLayout.totalWidth + sceneOffset] = 0.4 * scene - 0.3
            embeddings.scalars[row * smallLayout.totalWidth + sceneOffset + 1] = 0.2 - 0.3 * scene
        }
        let sceneBatch = ModelBatch(embeddings: embeddings, labels: batch.labels, context: batch.context)
        XCTAssertTrue(generatedCoreProductGroupsRows(of: try sceneScenario(sceneBatch)))
        try checkWaysAgree(sceneBatch, "scene embedding")
    }

    func testWaysAgreeWithDistinctScenarios() throws {
        // Random scene blocks: every scenario row differs, so the outer-product way runs.
        let batch = ModelBatch(rows: 16, layout: smallLayout, tasks: 3, seed: 10)
        XCTAssertFalse(generatedCoreProductGroupsRows(of: try sceneScenario(batch)))
        try checkWaysAgree(batch, "distinct scenarios")
    }

    /// Returns the scenario representation z `[B, Z]` of `batch`.
    func sceneScenario(_ batch: ModelBatch) throws -> Tensor {
        let graph = Graph(training: false)
        return try makeModel().trace(embeddings: graph.constant(batch.embeddings), batch: batch.context).scenario.value
    }
}

extension ModelBatch {
    init(embeddings: Tensor, labels: Tensor, context: BatchContext) {
        self.embeddings = embeddings
        self.labels = labels
        self.context = context
    }
}
