import Models
import TensorCore
import XCTest

final class MMoETests: XCTestCase {
    func makeModel(dropout: Float = 0, taskCount: Int = 3, expertUnits: [Int] = [6, 5],
                   towerUnits: [Int] = [4]) throws -> MMoE {
        var options = MMoE.Options()
        options.experts = 3
        options.expertUnits = expertUnits
        options.towerUnits = towerUnits
        options.dropout = dropout
        return try MMoE(options: options, layout: smallLayout, taskCount: taskCount, seed: 5)
    }

    /// Computes the float64 forward of `model` on `x` with the parameter values and masks of `reference`.
    func referenceLogits(_ model: MMoE, _ reference: Reference, _ x: Rows) -> Rows {
        let experts = model.experts.map { reference.stack(x, $0) }
        let taskInputs = model.gates.map { gate in
            referenceMix(experts, gates: referenceSoftmax(reference.dense(x, gate, relu: false)))
        }
        return reference.towers(taskInputs, model.towers)
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
        XCTAssertEqual(shapes.count, 3 * 4 + 3 * 2 + 3 * 4)
        XCTAssertEqual(shapes["expert2.dense0.weight"], [12, 6])
        XCTAssertEqual(shapes["expert2.dense1.weight"], [6, 5])
        XCTAssertEqual(shapes["expert2.dense1.bias"], [5])
        XCTAssertEqual(shapes["gate1.weight"], [12, 3])
        XCTAssertEqual(shapes["gate1.bias"], [3])
        XCTAssertEqual(shapes["tower2.dense0.weight"], [5, 4])
        XCTAssertEqual(shapes["tower2.head.weight"], [4, 1])
    }

    func testParameterCountOnKuaiRand() throws {
        // Experts 4 × (288·128 + 128 + 128·64 + 64), gates 3 × (288·4 + 4), towers 3 × (64·64 + 64 + 64 + 1).
        let model = try MMoE(options: MMoE.Options(), layout: kuaiRandLayout, taskCount: 3, seed: 1)
        let count = model.parameters.reduce(0) { $0 + $1.value.count }
        XCTAssertEqual(count, 197_135)
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

    func testPackedPathTrainsLikePerExpertPath() throws {
        try checkPackedPathTrainsLikePerExpertPath(dropout: 0)
    }

    func testPackedPathDropsLikePerExpertPath() throws {
        // One, two and three expert layers, with no tower layer, one and two.
        for (expertUnits, towerUnits) in [([6], [Int]()), ([6, 5], [4]), ([6, 5, 4], [4, 3])] {
            try checkPackedPathTrainsLikePerExpertPath(dropout: 0.3, expertUnits: expertUnits, towerUnits: towerUnits)
        }
    }

    /// Two copies of one model, trained five Adam steps each, one per path: the losses and the
    /// embedding gradients agree to float rounding at every step, so with dropout both paths
    /// drop the same units.
    func checkPackedPathTrainsLikePerExpertPath(dropout: Float, expertUnits: [Int] = [6, 5], towerUnits: [Int] = [4],
                                                file: StaticString = #filePath, line: UInt = #line) throws {
        let models = try (0..<2).map { _ in
            try makeModel(dropout: dropout, expertUnits: expertUnits, towerUnits: towerUnits)
        }
        for model in models { randomizeBiases(model, seed: 18) }
        let optimizers = models.map { _ in Adam(learningRate: 0.01) }
        let batch = ModelBatch(rows: 24, layout: smallLayout, tasks: 3, seed: 12)
        for step in 0..<5 {
            var losses: [Float] = []
            var embeddingGradients: [[Float]] = []
            for (index, model) in models.enumerated() {
                for parameter in model.parameters { parameter.zeroGradient() }
                let graph = Graph(training: true)
                let input = graph.input(batch.embeddings)
                let logits = index == 0 ? model.forwardPacked(embeddings: input, rowSeeds: batch.context.rowSeeds)
                    : model.forwardPerExpert(embeddings: input, batch: batch.context)
                let loss = binaryCrossEntropyWithLogits(logits, labels: batch.labels, taskWeights: [1, 1, 1],
                                                        normalizer: Float(batch.context.rowCount))
                graph.backward(loss)
                losses.append(loss.value.scalars[0])
                embeddingGradients.append(input.gradient!.scalars)
                optimizers[index].update(model.parameters)
            }
            XCTAssertEqual(losses[0], losses[1], accuracy: 1e-5 * abs(losses[1]), "loss at step \(step)", file: file, line: line)
            let scale = embeddingGradients[1].map(abs).max()!
            let worst = zip(embeddingGradients[0], embeddingGradients[1]).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst / scale, 1e-4, "embedding gradient at step \(step)", file: file, line: line)
        }
    }

    func testHeadOfTaskTrainsAgainstThatTasksLabels() throws {
        let model = try makeModel()
        try assertHeadsTrainAgainstOwnLabels(model, ModelBatch(rows: 12, layout: smallLayout, tasks: 3, seed: 8))
    }

    func testGateWeightsSumToOnePerRow() throws {
        let model = try makeModel()
        randomizeBiases(model, seed: 13)
        let batch = ModelBatch(rows: 9, layout: smallLayout, tasks: 3, seed: 9)
        let graph = Graph(training: false)
        let gates = model.gateWeights(embeddings: graph.constant(batch.embeddings))
        XCTAssertEqual(gates.count, 3)
        for (task, gate) in gates.enumerated() {
            XCTAssertEqual(gate.shape, [9, 3], "task \(task)")
            for row in 0..<9 {
                let total = (0..<3).reduce(0.0) { $0 + Double(gate.value.scalars[row * 3 + $1]) }
                XCTAssertEqual(total, 1, accuracy: 1e-6, "task \(task) row \(row)")
            }
        }
    }

    func testAgreeingExpertsMakeGatesIrrelevant() throws {
        // When every expert outputs the same vector v, Σ_e g_e · v = v exactly when the gate
        // weights sum to 1, so the logits cannot depend on the gates or on the row.
        let model = try makeModel()
        randomizeBiases(model, seed: 14)
        let sharedBias = model.experts[0].layers[1].bias.value
        for expert in model.experts {
            expert.layers[1].weight.value = Tensor(zeros: expert.layers[1].weight.shape)
            expert.layers[1].bias.value = sharedBias
        }
        let batch = ModelBatch(rows: 6, layout: smallLayout, tasks: 3, seed: 10)
        let before = modelLogits(model, embeddings: batch.embeddings, context: batch.context)

        var generator = RandomGenerator(seed: 15)
        for gate in model.gates {
            gate.weight.value = Tensor(shape: gate.weight.shape,
                                       scalars: (0..<gate.weight.value.count).map { _ in generator.nextUniform(low: -2, high: 2) })
        }
        let after = modelLogits(model, embeddings: batch.embeddings, context: batch.context)
        for row in 0..<6 {
            for task in 0..<3 {
                let index = row * 3 + task
                XCTAssertEqual(after.scalars[index], before.scalars[index], accuracy: 1e-5, "row \(row) task \(task)")
                XCTAssertEqual(after.scalars[index], before.scalars[task], accuracy: 1e-5, "row \(row) task \(task) against row 0")
            }
        }
    }

    func testBatchPermutationPermutesOutputs() throws {
        let model = try makeModel(dropout: 0.3)
        randomizeBiases(model, seed: 16)
        assertBatchPermutationPermutesOutputs(model, ModelBatch(rows: 11, layout: smallLayout, tasks: 3, seed: 11))
    }

    func testRegistryBuildsDefaults() throws {
        let model = try ModelConfig(name: "mmoe")
            .make(ModelContext(layout: smallLayout, taskCount: 2, sceneCount: 3, seed: 1))
        let mmoe = try XCTUnwrap(model as? MMoE)
        XCTAssertEqual(mmoe.experts.count, 4)
        XCTAssertEqual(mmoe.experts[0].layers.map(\.outputWidth), [128, 64])
        XCTAssertEqual(mmoe.towers.towers[1].layers.map(\.outputWidth), [64])
        XCTAssertEqual(mmoe.taskCount, 2)
    }

    func testTowerlessHeadsReadTheMixture() throws {
        var options = MMoE.Options()
        options.expertUnits = [5]
        options.towerUnits = []
        let model = try MMoE(options: options, layout: smallLayout, taskCount: 2, seed: 2)
        let shapes = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.shape) })
        XCTAssertEqual(shapes["tower1.head.weight"], [5, 1])
        XCTAssertNil(shapes["tower1.dense0.weight"])
    }

    func testInvalidOptionsNameTheirKey() {
        assertOptionErrors([
            ModelConfig(name: "mmoe", options: ["experts": .number(0)]),
            ModelConfig(name: "mmoe", options: ["experts": .number(1.5)]),
            ModelConfig(name: "mmoe", options: ["expertUnits": .array([])]),
            ModelConfig(name: "mmoe", options: ["expertUnits": .array([.number(8), .number(0)])]),
            ModelConfig(name: "mmoe", options: ["towerUnits": .array([.number(-1)])]),
            ModelConfig(name: "mmoe", options: ["dropout": .number(1)]),
            ModelConfig(name: "mmoe", options: ["dropout": .number(-0.1)]),
            ModelConfig(name: "mmoe", options: ["bottomUnits": .array([.number(8)])]),
        ])
    }
}
