@testable import Models
import TensorCore
import XCTest

final class PEPNetTests: XCTestCase {
    func makeModel(dropout: Float = 0) throws -> PEPNet {
        var options = PEPNet.Options()
        options.hiddenUnits = [6, 4]
        options.dropout = dropout
        return try PEPNet(options: options, layout: smallLayout, taskCount: 3, seed: 5)
    }

    /// Parameters whose every path to the loss carries a gradient: the PPNet gates, the towers
    /// and the heads. The EPNet gate and the embeddings also reach the loss through inputs behind
    /// a stop-gradient, which a finite difference sees and backward by design does not; the tests
    /// below cut those paths first.
    func downstreamParameterNames(_ model: PEPNet) -> Set<String> {
        Set(model.parameters.map(\.name).filter { !$0.hasPrefix("epnet.") })
    }

    func testGradientsMatchFiniteDifferences() throws {
        let model = try makeModel()
        randomizeBiases(model, seed: 11)
        checkDirectionalGradients(model, ModelBatch(rows: 16, layout: smallLayout, tasks: 3, seed: 1),
                                  only: downstreamParameterNames(model))
    }

    func testGradientsWithDropoutMatchFiniteDifferences() throws {
        // Masks depend only on the row seeds, so the loss is a fixed function of the parameters.
        // With these seeds no ReLU input lies within ε of zero, where one-sided slopes differ.
        let model = try makeModel(dropout: 0.3)
        randomizeBiases(model, seed: 22)
        checkDirectionalGradients(model, ModelBatch(rows: 16, layout: smallLayout, tasks: 3, seed: 2),
                                  only: downstreamParameterNames(model))
    }

    func testEmbeddingGateGradientsMatchFiniteDifferences() throws {
        // Zero the PPNet gates' weights on sg(O_ep), so the EPNet gate reaches the loss only
        // through the towers, where its gradient is exact.
        let model = try makeModel()
        randomizeBiases(model, seed: 13)
        let personaWidth = 3 + 3 + 2
        for layer in 0..<2 {
            zeroWeightRows(model, name: "ppnet.gate\(layer).hidden.weight",
                           rows: personaWidth..<(personaWidth + smallLayout.totalWidth))
        }
        let names = Set(model.parameters.map(\.name).filter { $0.hasPrefix("epnet.") })
        checkDirectionalGradients(model, ModelBatch(rows: 16, layout: smallLayout, tasks: 3, seed: 3), only: names)
    }

    func testEmbeddingGradientMatchesFiniteDifferences() throws {
        // Cut both stopped paths (E into the EPNet gate, O_ep into the PPNet gates); the scene
        // and persona blocks still reach the gates with their gradients.
        let model = try makeModel()
        randomizeBiases(model, seed: 14)
        let sceneWidth = 2
        zeroWeightRows(model, name: "epnet.gate.hidden.weight", rows: sceneWidth..<(sceneWidth + smallLayout.totalWidth))
        let personaWidth = 3 + 3 + 2
        for layer in 0..<2 {
            zeroWeightRows(model, name: "ppnet.gate\(layer).hidden.weight",
                           rows: personaWidth..<(personaWidth + smallLayout.totalWidth))
        }
        let batch = ModelBatch(rows: 8, layout: smallLayout, tasks: 3, seed: 3)
        var gradient: Tensor?
        lossAndGradients(model, batch, embeddingGradient: &gradient)
        let analyticGradient = try XCTUnwrap(gradient)
        var generator = RandomGenerator(seed: 4)
        let direction = analyticGradient.scalars.map { ($0 < 0 ? -1 : 1) * generator.nextUniform(low: 0.5, high: 1) }
        let epsilon: Float = 3e-4
        var plus = batch.embeddings
        var minus = batch.embeddings
        for i in 0..<direction.count {
            plus.scalars[i] += epsilon * direction[i]
            minus.scalars[i] -= epsilon * direction[i]
        }
        let numeric = (lossValue(model, batch, embeddings: plus) - lossValue(model, batch, embeddings: minus)) / (2 * Double(epsilon))
        let analytic = zip(analyticGradient.scalars, direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        XCTAssertEqual(analytic, numeric, accuracy: 1e-2 * max(abs(numeric), 1e-3))
    }

    func testEveryParameterReceivesGradient() throws {
        let model = try makeModel(dropout: 0.1)
        lossAndGradients(model, ModelBatch(rows: 32, layout: smallLayout, tasks: 3, seed: 6))
        let zero = model.parameters.filter { $0.gradient.scalars.allSatisfy { $0 == 0 } }.map(\.name)
        XCTAssertEqual(zero, [], "parameters whose gradient stays zero")
    }

    func testOutputShapeAndParameterShapes() throws {
        let model = try makeModel()
        let batch = ModelBatch(rows: 5, layout: smallLayout, tasks: 3, seed: 7)
        let graph = Graph(training: false)
        let logits = model.forward(embeddings: graph.constant(batch.embeddings), batch: batch.context)
        XCTAssertEqual(logits.shape, [5, 3])
        let shapes = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.shape) })
        // EPNet gate: [scene (2) ‖ all embeddings (12)] → 12.
        XCTAssertEqual(shapes["epnet.gate.hidden.weight"], [14, 12])
        XCTAssertEqual(shapes["epnet.gate.output.weight"], [12, 12])
        // PPNet gate of layer 0: [persona (3+3+2) ‖ embeddings (12)] → 3 tasks × 6 units.
        XCTAssertEqual(shapes["ppnet.gate0.output.weight"], [18, 18])
        XCTAssertEqual(shapes["ppnet.gate1.output.weight"], [12, 12])
        XCTAssertEqual(shapes["tower2.dense0.weight"], [12, 6])
        XCTAssertEqual(shapes["tower2.head.weight"], [4, 1])
    }

    func testHeadOfTaskTrainsAgainstThatTasksLabels() throws {
        // The gradient of head t's bias is Σ_b (σ(z_bt) − y_bt) / B, which pins logit column t,
        // tower t and label column t together.
        let model = try makeModel()
        let batch = ModelBatch(rows: 12, layout: smallLayout, tasks: 3, seed: 8)
        let graph = Graph(training: true)
        let logits = model.forward(embeddings: graph.constant(batch.embeddings), batch: batch.context).value
        lossAndGradients(model, batch)
        let biases = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0) })
        for task in 0..<3 {
            var expected = 0.0
            for row in 0..<12 {
                let z = Double(logits.scalars[row * 3 + task])
                expected += (1 / (1 + exp(-z)) - Double(batch.labels.scalars[row * 3 + task])) / 12
            }
            let actual = try XCTUnwrap(biases["tower\(task).head.bias"]).gradient.scalars[0]
            XCTAssertEqual(Double(actual), expected, accuracy: 1e-5, "task \(task)")
        }
    }

    func testEmbeddingGateSeesNoEmbeddingGradientThroughStopGradient() throws {
        // With the towers' dependence on E removed (all tower weights zero), the only gradient into
        // the embeddings would come through the gate inputs; stop-gradient leaves just the scene block.
        let model = try makeModel()
        for parameter in model.parameters where parameter.name.hasPrefix("tower") {
            parameter.value = Tensor(zeros: parameter.shape)
        }
        let batch = ModelBatch(rows: 4, layout: smallLayout, tasks: 3, seed: 9)
        var gradient: Tensor?
        lossAndGradients(model, batch, embeddingGradient: &gradient)
        let values = try XCTUnwrap(gradient)
        let sceneColumns = smallLayout.offsets[4]..<(smallLayout.offsets[4] + 2)
        for row in 0..<4 {
            for column in 0..<smallLayout.totalWidth where !sceneColumns.contains(column) {
                XCTAssertEqual(values.scalars[row * smallLayout.totalWidth + column], 0, "row \(row) column \(column)")
            }
        }
    }

    func testUnknownPersonaFeatureIsRejected() {
        var options = PEPNet.Options()
        options.personaFeatures = ["user_id", "item"]
        XCTAssertThrowsError(try PEPNet(options: options, layout: smallLayout, taskCount: 3, seed: 1)) { error in
            XCTAssertTrue("\(error)".contains("model.personaFeatures"), "\(error)")
            XCTAssertTrue("\(error)".contains("\"item\""), "\(error)")
        }
    }

    /// The packed towers against each task's tower written out with plain ops and per-task
    /// dropout: the same logits and the same gradient for every parameter and the embeddings.
    func testPackedTowersMatchPerTaskTowers() throws {
        let model = try makeModel(dropout: 0.3)
        randomizeBiases(model, seed: 23)
        let batch = ModelBatch(rows: 16, layout: smallLayout, tasks: 3, seed: 5)

        func run(_ forward: (Variable) -> Variable) -> (logits: Tensor, gradients: [Tensor]) {
            for parameter in model.parameters { parameter.zeroGradient() }
            let graph = Graph(training: true)
            let input = graph.input(batch.embeddings)
            let logits = forward(input)
            graph.backward(binaryCrossEntropyWithLogits(logits, labels: batch.labels, taskWeights: [1, 1, 1], normalizer: 16))
            return (logits.value, model.parameters.map(\.gradient) + [input.gradient!])
        }
        let packed = run { model.forward(embeddings: $0, batch: batch.context) }
        let reference = run { embeddings in
            let layout = smallLayout
            func block(_ feature: Int) -> Variable {
                slice(embeddings, columns: layout.offsets[feature] ..< layout.offsets[feature] + layout.widths[feature])
            }
            let personalized = model.embeddingGate(concat([block(model.sceneFeature), stopGradient(embeddings)])) * embeddings
            let gateInput = concat(model.personaFeatures.map(block) + [stopGradient(personalized)])
            let gates = zip(model.towerGates, [6, 4]).map { gate, units in split(gate(gateInput), sizes: [units, units, units]) }
            let logits = (0..<3).map { task -> Variable in
                var hidden = personalized
                for (layer, dense) in model.towers[task].enumerated() {
                    hidden = rowSeededDropout(gates[layer][task] * relu(dense(hidden)), rate: 0.3,
                                              rowSeeds: batch.context.rowSeeds, layer: UInt64(task * 64 + layer))
                }
                return model.heads[task](hidden)
            }
            return concat(logits)
        }
        for (a, b) in zip(packed.logits.scalars, reference.logits.scalars) {
            XCTAssertEqual(a, b, accuracy: 1e-6)
        }
        for (index, (a, b)) in zip(packed.gradients, reference.gradients).enumerated() {
            let scale = b.scalars.map(abs).max() ?? 0
            for (x, y) in zip(a.scalars, b.scalars) {
                XCTAssertEqual(x, y, accuracy: 1e-5 * max(scale, 1e-3), "gradient \(index)")
            }
        }
    }
}
