import Models
import TensorCore
import XCTest

final class HMoETests: XCTestCase {
    let sceneCount = 3
    let taskCount = 3

    func makeModel(dropout: Float = 0) throws -> HMoE {
        var options = HMoE.Options()
        options.experts = 3
        options.expertUnits = [6, 5]
        options.towerUnits = [4]
        options.dropout = dropout
        return try HMoE(options: options, layout: smallLayout, taskCount: taskCount, sceneCount: sceneCount, seed: 5)
    }

    /// A batch of 12 rows with the scenes out of order and every scene present.
    func mixedBatch(seed: UInt64) -> SceneBatch {
        SceneBatch(scenes: [2, 0, 1, 1, 2, 0, 0, 2, 1, 0, 2, 1], layout: smallLayout, tasks: taskCount, seed: seed)
    }

    /// Sets every bias to a positive random value, so that no ReLU input sits at its kink and few
    /// units are dead for a whole row. A row whose experts are all dead gives its towers the same
    /// input whatever the gates.
    func randomizePositiveBiases(_ model: HMoE, seed: UInt64) {
        for (index, parameter) in model.parameters.enumerated() where parameter.name.hasSuffix(".bias") {
            randomizeParameter(model, name: parameter.name, low: 0.1, high: 0.5, seed: seed &+ UInt64(index))
        }
    }

    /// Sets the relation logits to random values on the diagonal and `offDiagonal` elsewhere.
    func setRelation(_ model: HMoE, offDiagonal: Float?, seed: UInt64) {
        var generator = RandomGenerator(seed: seed)
        for from in 0..<sceneCount {
            for to in 0..<sceneCount {
                let random = generator.nextUniform(low: -1, high: 1)
                model.sceneRelation.value[from, to] = from == to ? random : offDiagonal ?? random
            }
        }
    }

    /// Returns A = softmax(R) row by row in float64, `[S][S]`.
    func relationWeights(_ model: HMoE) -> [[Double]] {
        (0..<sceneCount).map { from in
            let row = (0..<sceneCount).map { exp(Double(model.sceneRelation.value[from, $0])) }
            let total = row.reduce(0, +)
            return row.map { $0 / total }
        }
    }

    /// Returns every parameter name except the relation logits: these reach the loss of other scenes' rows
    /// through stopped gradients, so their check runs with those paths cut.
    func namesBehindStopGradient(_ model: HMoE) -> Set<String> {
        Set(model.parameters.map(\.name).filter { $0 != "sceneRelation.logits" })
    }

    // MARK: Gradients

    func testRelationGradientMatchesFiniteDifferences() throws {
        // The relation weights multiply the towers' logits outside every stop-gradient, so their
        // gradient is exact with every path open.
        let model = try makeModel()
        randomizePositiveBiases(model, seed: 10)
        setRelation(model, offDiagonal: nil, seed: 10)
        checkDirectionalGradients(model, ModelBatch(rows: 16, layout: smallLayout, tasks: taskCount, seed: 1),
                                  only: ["sceneRelation.logits"])
    }

    func testGradientsMatchFiniteDifferences() throws {
        // Off-diagonal relation logits of −30 give the other scenes' towers a weight near 1e-13,
        // which cuts the stopped paths that a finite difference would otherwise see. The gate
        // biases' gradients are small (a softmax's bias gradients sum to zero), so ε = 1e-3 keeps
        // the float32 rounding of the loss well below their directional derivative.
        let model = try makeModel()
        randomizePositiveBiases(model, seed: 11)
        setRelation(model, offDiagonal: -30, seed: 11)
        checkDirectionalGradients(model, ModelBatch(rows: 16, layout: smallLayout, tasks: taskCount, seed: 1),
                                  only: namesBehindStopGradient(model), epsilon: 1e-3)
    }

    func testGradientsWithDropoutMatchFiniteDifferences() throws {
        let model = try makeModel(dropout: 0.3)
        randomizePositiveBiases(model, seed: 22)
        setRelation(model, offDiagonal: -30, seed: 22)
        checkDirectionalGradients(model, ModelBatch(rows: 16, layout: smallLayout, tasks: taskCount, seed: 2),
                                  only: namesBehindStopGradient(model), epsilon: 1e-3)
    }

    func testEmbeddingGradientMatchesFiniteDifferences() throws {
        let model = try makeModel()
        randomizePositiveBiases(model, seed: 14)
        setRelation(model, offDiagonal: -30, seed: 14)
        checkEmbeddingGradient(model, ModelBatch(rows: 8, layout: smallLayout, tasks: taskCount, seed: 3))
    }

    func testEveryParameterReceivesGradient() throws {
        let model = try makeModel(dropout: 0.1)
        lossAndGradients(model, ModelBatch(rows: 32, layout: smallLayout, tasks: taskCount, seed: 6))
        let zero = model.parameters.filter { $0.gradient.scalars.allSatisfy { $0 == 0 } }.map(\.name)
        XCTAssertEqual(zero, [], "parameters whose gradient stays zero")
    }

    // MARK: Shapes and values

    func testOutputShapeAndParameterShapes() throws {
        let model = try makeModel()
        let logits = forwardLogits(model, mixedBatch(seed: 7), training: false)
        XCTAssertEqual(logits.shape, [12, 3])
        let shapes = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.shape) })
        let width = smallLayout.totalWidth
        XCTAssertEqual(shapes["expert2.dense0.weight"], [width, 6])
        XCTAssertEqual(shapes["expert2.dense1.weight"], [6, 5])
        XCTAssertEqual(shapes["scene2.gate.weight"], [width, 3])
        XCTAssertEqual(shapes["scene2.gate.bias"], [3])
        XCTAssertEqual(shapes["scene2.tower.dense0.weight"], [5, 4])
        XCTAssertEqual(shapes["scene2.head.weight"], [4, 3])
        XCTAssertEqual(shapes["sceneRelation.logits"], [3, 3])
        XCTAssertEqual(model.parameters.count, 3 * 4 + 3 * (2 + 2 + 2) + 1)
    }

    func testRelationStartsFavoringOwnScene() throws {
        let weights = relationWeights(try makeModel())
        for scene in 0..<sceneCount {
            XCTAssertEqual(weights[scene][scene], 0.5, accuracy: 1e-6, "scene \(scene)")
            XCTAssertEqual(weights[scene][(scene + 1) % sceneCount], 0.25, accuracy: 1e-6, "scene \(scene)")
        }
    }

    func testOutputIsRelationWeightedSumOfSceneLogits() throws {
        // The output is the logit Σ_s A[s_b, s] z_s[b], with no sigmoid inside the sum. Head biases
        // of ±2 push the logits outside (0, 1), where a combination of probabilities would differ.
        let model = try makeModel()
        setRelation(model, offDiagonal: nil, seed: 50)
        for (scene, head) in model.heads.enumerated() {
            head.bias.value = Tensor(shape: [3], scalars: [2, -2, scene % 2 == 0 ? 2 : -2])
        }
        let batch = mixedBatch(seed: 51)
        let graph = Graph(training: false)
        let input = graph.constant(batch.embeddings)
        let sceneLogits = model.sceneLogits(embeddings: input, batch: batch.context).map(\.value)
        let output = model.forward(embeddings: input, batch: batch.context).value
        let weights = relationWeights(model)
        for row in 0..<12 {
            let ownScene = Int(batch.context.scenes[row])
            for task in 0..<taskCount {
                var expected = 0.0
                for scene in 0..<sceneCount {
                    expected += weights[ownScene][scene] * Double(sceneLogits[scene].scalars[row * 3 + task])
                }
                XCTAssertEqual(Double(output.scalars[row * 3 + task]), expected, accuracy: 1e-5, "row \(row) task \(task)")
            }
        }
        XCTAssertTrue(output.scalars.contains { $0 < 0 }, "logits should not all be positive: \(output.scalars)")
        XCTAssertTrue(output.scalars.contains { $0 > 1 }, "logits should not all lie in [0, 1]: \(output.scalars)")
    }

    // MARK: Defect guards

    func testHeadOfTaskTrainsAgainstThatTasksLabels() throws {
        // Scene s's head bias for task t receives Σ over the rows of scene s of A[s, s]·(σ(z_bt) − y_bt) / B:
        // only its own rows, through its own column of the logits and label column t.
        let model = try makeModel()
        setRelation(model, offDiagonal: nil, seed: 8)
        let batch = ModelBatch(rows: 12, layout: smallLayout, tasks: taskCount, seed: 8)
        let logits = forwardLogits(model, SceneBatch(embeddings: batch.embeddings, labels: batch.labels,
                                                     context: batch.context), training: true)
        lossAndGradients(model, batch)
        let weights = relationWeights(model)
        for scene in 0..<sceneCount {
            for task in 0..<taskCount {
                var expected = 0.0
                for row in 0..<12 where Int(batch.context.scenes[row]) == scene {
                    let residual = logistic(Double(logits.scalars[row * 3 + task])) - Double(batch.labels.scalars[row * 3 + task])
                    expected += weights[scene][scene] * residual / 12
                }
                let actual = model.heads[scene].bias.gradient.scalars[task]
                XCTAssertEqual(Double(actual), expected, accuracy: 1e-5, "scene \(scene) task \(task)")
            }
        }
    }

    func testTowerReadsOnlyItsOwnGate() throws {
        // Changing scene 0's gate changes scene 0's tower logits on every row and no other scene's
        // tower; each row's output moves by A[s_b, 0]·Δz_0[b].
        let model = try makeModel()
        randomizePositiveBiases(model, seed: 60)
        setRelation(model, offDiagonal: nil, seed: 60)
        let batch = mixedBatch(seed: 61)
        let graph = Graph(training: false)
        let input = graph.constant(batch.embeddings)
        let before = model.sceneLogits(embeddings: input, batch: batch.context).map(\.value)
        let outputBefore = model.forward(embeddings: input, batch: batch.context).value

        randomizeParameter(model, name: "scene0.gate.weight", low: -1, high: 1, seed: 62)
        randomizeParameter(model, name: "scene0.gate.bias", low: -1, high: 1, seed: 63)
        let after = model.sceneLogits(embeddings: input, batch: batch.context).map(\.value)
        let outputAfter = model.forward(embeddings: input, batch: batch.context).value

        XCTAssertEqual(after[1], before[1], "scene 1's tower read scene 0's gate")
        XCTAssertEqual(after[2], before[2], "scene 2's tower read scene 0's gate")
        let weights = relationWeights(model)
        for row in 0..<12 {
            XCTAssertNotEqual(Array(after[0].scalars[(row * 3)..<(row * 3 + 3)]),
                              Array(before[0].scalars[(row * 3)..<(row * 3 + 3)]), "scene 0's tower, row \(row)")
            for task in 0..<taskCount {
                let i = row * 3 + task
                let expected = weights[Int(batch.context.scenes[row])][0] * Double(after[0].scalars[i] - before[0].scalars[i])
                XCTAssertEqual(Double(outputAfter.scalars[i] - outputBefore.scalars[i]), expected, accuracy: 1e-5,
                               "row \(row) task \(task)")
            }
        }
    }

    func testRowsTrainOnlyTheirOwnScene() throws {
        // A batch of scene-1 rows gives gradients to scene 1's gate, tower and head and to row 1 of
        // the relation logits, and none to the other scenes' parameters.
        let model = try makeModel()
        randomizePositiveBiases(model, seed: 70)
        let batch = SceneBatch(scenes: Array(repeating: 1, count: 8), layout: smallLayout, tasks: taskCount, seed: 71)
        fillGradients(model, batch)
        for parameter in model.parameters where parameter.name.hasPrefix("scene0.") || parameter.name.hasPrefix("scene2.") {
            XCTAssertTrue(parameter.gradient.scalars.allSatisfy { $0 == 0 }, parameter.name)
        }
        for parameter in model.parameters where parameter.name.hasPrefix("scene1.") {
            XCTAssertTrue(parameter.gradient.scalars.contains { $0 != 0 }, parameter.name)
        }
        let relationGradient = model.sceneRelation.gradient
        for scene in [0, 2] {
            for to in 0..<sceneCount {
                XCTAssertEqual(relationGradient[scene, to], 0, "relation row \(scene)")
            }
        }
        XCTAssertTrue((0..<sceneCount).contains { relationGradient[1, $0] != 0 }, "relation row 1")
    }

    func testPermutingRowsPermutesOutputs() throws {
        let model = try makeModel(dropout: 0.2)
        randomizePositiveBiases(model, seed: 80)
        setRelation(model, offDiagonal: nil, seed: 80)
        let permutation = [7, 2, 11, 0, 5, 9, 1, 4, 10, 3, 8, 6]
        for training in [true, false] {
            checkPermutationEquivariance(model, mixedBatch(seed: 81), permutation: permutation, training: training,
                                         accuracy: 1e-6)
        }
    }

    func testMixedBatchMatchesRowsRunAlone() throws {
        // Dropout masks come from the row seeds, so this is true in training too.
        let model = try makeModel(dropout: 0.2)
        randomizePositiveBiases(model, seed: 82)
        setRelation(model, offDiagonal: nil, seed: 82)
        for training in [true, false] {
            checkRowsMatchRunAlone(model, mixedBatch(seed: 83), training: training, accuracy: 1e-6)
        }
    }

    // MARK: Options

    func testInvalidOptionsNameTheirKey() {
        let cases: [(String, String)] = [
            (#"{"name": "hmoe", "experts": 0}"#, "model.experts"),
            (#"{"name": "hmoe", "experts": 2.5}"#, "model.experts"),
            (#"{"name": "hmoe", "expertUnits": []}"#, "model.expertUnits"),
            (#"{"name": "hmoe", "towerUnits": [-1]}"#, "model.towerUnits"),
            (#"{"name": "hmoe", "dropout": -0.1}"#, "model.dropout"),
            (#"{"name": "hmoe", "expert": 2}"#, "model.expert"),
        ]
        for (json, key) in cases {
            XCTAssertThrowsError(try makeRegisteredModel(json: json, layout: smallLayout, taskCount: 3, sceneCount: 3),
                                 json) { error in
                XCTAssertTrue("\(error)".contains(key + ":"), "\(json): \(error)")
            }
        }
    }

    func testRegistryBuildsWithDefaults() throws {
        let model = try makeRegisteredModel(json: #"{"name": "hmoe"}"#, layout: smallLayout, taskCount: 2, sceneCount: 5)
        let shapes = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.shape) })
        XCTAssertEqual(shapes["expert3.dense0.weight"], [smallLayout.totalWidth, 128])
        XCTAssertEqual(shapes["expert3.dense1.weight"], [128, 64])
        XCTAssertEqual(shapes["scene4.gate.weight"], [smallLayout.totalWidth, 4])
        XCTAssertEqual(shapes["scene4.tower.dense0.weight"], [64, 64])
        XCTAssertEqual(shapes["scene4.head.weight"], [64, 2])
        XCTAssertEqual(shapes["sceneRelation.logits"], [5, 5])
    }
}
