import Models
import TensorCore
import XCTest

final class PLETests: XCTestCase {
    func makeModel(levels: Int = 2, taskExperts: Int = 2, sharedExperts: Int = 2, dropout: Float = 0) throws -> PLE {
        var options = PLE.Options()
        options.levels = levels
        options.taskExperts = taskExperts
        options.sharedExperts = sharedExperts
        options.expertUnits = [6, 5]
        options.towerUnits = [4]
        options.dropout = dropout
        return try PLE(options: options, layout: smallLayout, taskCount: 3, seed: 5)
    }

    /// Computes the float64 forward of `model` on `x` with the parameter values and masks of `reference`.
    func referenceLogits(_ model: PLE, _ reference: Reference, _ x: Rows) -> Rows {
        var taskInputs = Array(repeating: x, count: model.taskCount)
        var sharedInput = x
        for level in model.levels {
            let owned = zip(level.taskExperts, taskInputs).map { experts, input in experts.map { reference.stack(input, $0) } }
            let shared = level.sharedExperts.map { reference.stack(sharedInput, $0) }
            let nextTaskInputs = level.taskGates.enumerated().map { task, gate in
                referenceMix(owned[task] + shared,
                             gates: referenceSoftmax(reference.dense(taskInputs[task], gate, relu: false)))
            }
            if let gate = level.sharedGate {
                sharedInput = referenceMix(owned.flatMap { $0 } + shared,
                                           gates: referenceSoftmax(reference.dense(sharedInput, gate, relu: false)))
            }
            taskInputs = nextTaskInputs
        }
        return reference.towers(taskInputs, model.towers)
    }

    func testGradientsMatchFiniteDifferences() throws {
        for (levels, taskExperts, sharedExperts) in [(2, 2, 2), (2, 0, 2), (2, 2, 0)] {
            let model = try makeModel(levels: levels, taskExperts: taskExperts, sharedExperts: sharedExperts)
            randomizeBiases(model, seed: 11)
            checkGradientsAgainstReference(model, ModelBatch(rows: 16, layout: smallLayout, tasks: 3, seed: 1)) {
                self.referenceLogits(model, $0, $1)
            }
        }
    }

    func testGradientsWithDropoutMatchFiniteDifferences() throws {
        let model = try makeModel(levels: 3, dropout: 0.3)
        randomizeBiases(model, seed: 22)
        checkGradientsAgainstReference(model, ModelBatch(rows: 16, layout: smallLayout, tasks: 3, seed: 2)) {
            self.referenceLogits(model, $0, $1)
        }
    }

    func testEveryParameterReceivesGradient() throws {
        for (levels, taskExperts, sharedExperts) in [(2, 2, 2), (3, 1, 2), (2, 0, 2), (2, 2, 0)] {
            let model = try makeModel(levels: levels, taskExperts: taskExperts, sharedExperts: sharedExperts, dropout: 0.1)
            let zero = parametersWithoutGradient(model, ModelBatch(rows: 32, layout: smallLayout, tasks: 3, seed: 6))
            XCTAssertEqual(zero, [], "levels \(levels), taskExperts \(taskExperts), sharedExperts \(sharedExperts)")
        }
    }

    func testOutputShapeAndParameterShapes() throws {
        let model = try makeModel()
        let batch = ModelBatch(rows: 5, layout: smallLayout, tasks: 3, seed: 7)
        XCTAssertEqual(modelLogits(model, embeddings: batch.embeddings, context: batch.context).shape, [5, 3])
        let shapes = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.shape) })
        // Level 0 reads the embeddings (12 wide), level 1 the mixtures (5 wide).
        XCTAssertEqual(shapes["level0.task2.expert1.dense0.weight"], [12, 6])
        XCTAssertEqual(shapes["level0.task2.expert1.dense1.weight"], [6, 5])
        XCTAssertEqual(shapes["level0.shared.expert1.dense0.weight"], [12, 6])
        XCTAssertEqual(shapes["level1.task0.expert0.dense0.weight"], [5, 6])
        XCTAssertEqual(shapes["level1.shared.expert1.dense0.weight"], [5, 6])
        // A task gate mixes 2 own and 2 shared experts, the shared gate 3 · 2 + 2 experts.
        XCTAssertEqual(shapes["level0.task1.gate.weight"], [12, 4])
        XCTAssertEqual(shapes["level1.task1.gate.weight"], [5, 4])
        XCTAssertEqual(shapes["level0.shared.gate.weight"], [12, 8])
        XCTAssertEqual(shapes["level0.shared.gate.bias"], [8])
        XCTAssertNil(shapes["level1.shared.gate.weight"], "the last level has no shared gate")
        XCTAssertEqual(shapes["tower2.dense0.weight"], [5, 4])
        XCTAssertEqual(shapes["tower2.head.weight"], [4, 1])
    }

    func testParameterCountOnKuaiRand() throws {
        // Level 0: 8 experts (288·64 + 64), 3 task gates (288·4 + 4), shared gate 288·8 + 8.
        // Level 1: 8 experts (64·64 + 64), 3 task gates (64·4 + 4). Towers 3 × (64·64 + 64 + 64 + 1).
        let model = try PLE(options: PLE.Options(), layout: kuaiRandLayout, taskCount: 3, seed: 1)
        let count = model.parameters.reduce(0) { $0 + $1.value.count }
        XCTAssertEqual(count, 8 * 18_496 + 3 * 1_156 + 2_312 + 8 * 4_160 + 3 * 260 + 3 * 4_225)
        XCTAssertEqual(count, 200_483)
    }

    func testForwardMatchesFloat64Reference() throws {
        for (levels, taskExperts, sharedExperts) in [(2, 2, 2), (3, 1, 3), (2, 0, 2), (2, 2, 0)] {
            let model = try makeModel(levels: levels, taskExperts: taskExperts, sharedExperts: sharedExperts)
            randomizeBiases(model, seed: 12)
            let batch = ModelBatch(rows: 7, layout: smallLayout, tasks: 3, seed: 3)
            assertLogits(model, batch, match: referenceLogits(model, Reference(model), Rows(rowsOf: batch.embeddings)))
        }
    }

    func testForwardWithDropoutMatchesFloat64Reference() throws {
        let model = try makeModel(levels: 3, dropout: 0.4)
        randomizeBiases(model, seed: 12)
        let batch = ModelBatch(rows: 7, layout: smallLayout, tasks: 3, seed: 3)
        let reference = Reference(model, rowSeeds: batch.context.rowSeeds)
        assertLogits(model, batch, training: true, match: referenceLogits(model, reference, Rows(rowsOf: batch.embeddings)))
    }

    func testHeadOfTaskTrainsAgainstThatTasksLabels() throws {
        let model = try makeModel()
        try assertHeadsTrainAgainstOwnLabels(model, ModelBatch(rows: 12, layout: smallLayout, tasks: 3, seed: 8))
    }

    func testGateWeightsSumToOnePerRow() throws {
        let model = try makeModel(levels: 3)
        randomizeBiases(model, seed: 13)
        let batch = ModelBatch(rows: 9, layout: smallLayout, tasks: 3, seed: 9)
        let graph = Graph(training: false)
        let gatesByLevel = model.gateWeights(embeddings: graph.constant(batch.embeddings), batch: batch.context)
        XCTAssertEqual(gatesByLevel.map(\.count), [4, 4, 3], "3 task gates per level, a shared gate but in the last")
        for (level, gates) in gatesByLevel.enumerated() {
            for (index, gate) in gates.enumerated() {
                let width = index < 3 ? 4 : 8
                XCTAssertEqual(gate.shape, [9, width], "level \(level) gate \(index)")
                for row in 0..<9 {
                    let total = (0..<width).reduce(0.0) { $0 + Double(gate.value.scalars[row * width + $1]) }
                    XCTAssertEqual(total, 1, accuracy: 1e-6, "level \(level) gate \(index) row \(row)")
                }
            }
        }
    }

    func testTaskGateIgnoresOtherTasksExperts() throws {
        // In the last level, zeroing task 1's experts makes them output 0. Tasks 0 and 2 must not
        // change, because their gates mix only their own and the shared experts; task 1 must.
        for levels in [1, 2] {
            let model = try makeModel(levels: levels)
            randomizeBiases(model, seed: 14)
            let batch = ModelBatch(rows: 8, layout: smallLayout, tasks: 3, seed: 10)
            let before = modelLogits(model, embeddings: batch.embeddings, context: batch.context)
            XCTAssertEqual(zeroParameters(model, prefix: "level\(levels - 1).task1.expert"), 2 * 2 * 2)
            let after = modelLogits(model, embeddings: batch.embeddings, context: batch.context)

            var task1Change: Float = 0
            for row in 0..<8 {
                XCTAssertEqual(after.scalars[row * 3], before.scalars[row * 3], "levels \(levels) row \(row) task 0")
                XCTAssertEqual(after.scalars[row * 3 + 2], before.scalars[row * 3 + 2], "levels \(levels) row \(row) task 2")
                task1Change = max(task1Change, abs(after.scalars[row * 3 + 1] - before.scalars[row * 3 + 1]))
            }
            XCTAssertGreaterThan(task1Change, 1e-4, "levels \(levels): zeroing task 1's experts must change task 1")
        }
    }

    func testSharedGateMixesEveryTasksExperts() throws {
        // Before the last level, task 1's experts reach tasks 0 and 2 through the shared gate.
        let model = try makeModel(levels: 2)
        randomizeBiases(model, seed: 15)
        let batch = ModelBatch(rows: 8, layout: smallLayout, tasks: 3, seed: 10)
        let before = modelLogits(model, embeddings: batch.embeddings, context: batch.context)
        zeroParameters(model, prefix: "level0.task1.expert")
        let after = modelLogits(model, embeddings: batch.embeddings, context: batch.context)
        var task0Change: Float = 0
        for row in 0..<8 { task0Change = max(task0Change, abs(after.scalars[row * 3] - before.scalars[row * 3])) }
        XCTAssertGreaterThan(task0Change, 1e-5)
    }

    func testBatchPermutationPermutesOutputs() throws {
        let model = try makeModel(dropout: 0.3)
        randomizeBiases(model, seed: 16)
        assertBatchPermutationPermutesOutputs(model, ModelBatch(rows: 11, layout: smallLayout, tasks: 3, seed: 11))
    }

    func testRegistryBuildsDefaults() throws {
        let model = try ModelConfig(name: "ple")
            .make(ModelContext(layout: smallLayout, taskCount: 2, sceneCount: 3, seed: 1))
        let ple = try XCTUnwrap(model as? PLE)
        XCTAssertEqual(ple.levels.count, 2)
        XCTAssertEqual(ple.levels[0].taskExperts.map(\.count), [2, 2])
        XCTAssertEqual(ple.levels[0].sharedExperts.count, 2)
        XCTAssertEqual(ple.levels[0].sharedExperts[0].layers.map(\.outputWidth), [64])
        XCTAssertEqual(ple.towers.towers[1].layers.map(\.outputWidth), [64])
    }

    func testInvalidOptionsNameTheirKey() {
        assertOptionErrors([
            ModelConfig(name: "ple", options: ["levels": .number(0)]),
            ModelConfig(name: "ple", options: ["taskExperts": .number(-1)]),
            ModelConfig(name: "ple", options: ["sharedExperts": .number(-1)]),
            ModelConfig(name: "ple", options: ["sharedExperts": .string("two")]),
            ModelConfig(name: "ple", options: ["expertUnits": .array([])]),
            ModelConfig(name: "ple", options: ["towerUnits": .array([.number(0)])]),
            ModelConfig(name: "ple", options: ["dropout": .number(1.5)]),
            ModelConfig(name: "ple", options: ["experts": .number(4)]),
        ])
    }

    func testNoExpertsAtAllIsRejected() {
        var options = PLE.Options()
        options.taskExperts = 0
        options.sharedExperts = 0
        XCTAssertThrowsError(try PLE(options: options, layout: smallLayout, taskCount: 2, seed: 1)) { error in
            XCTAssertTrue("\(error)".hasPrefix("model.taskExperts: "), "\(error)")
        }
    }
}
