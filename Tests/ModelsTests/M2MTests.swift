import Configuration
import Models
import TensorCore
import XCTest

final class M2MTests: XCTestCase {
    static let taskCount = 3

    func makeOptions(dropout: Float = 0) -> M2M.Options {
        var options = M2M.Options()
        options.experts = 3
        options.expertUnits = [6, 5]
        options.taskEmbeddingWidth = 3
        options.sceneFeatures = ["scene", "age"]
        options.scenarioWidth = 4
        options.metaLayers = 2
        options.dropout = dropout
        return options
    }

    func makeModel(dropout: Float = 0, seed: UInt64 = 5) throws -> M2M {
        try M2M(options: makeOptions(dropout: dropout), layout: smallLayout, taskCount: Self.taskCount, seed: seed)
    }

    /// Returns the batch's embeddings with every row's scene block set to a fixed vector of its
    /// scene, as the trainer's scene embedding lookup would give.
    func sceneConsistentEmbeddings(_ batch: ModelBatch) -> Tensor {
        let sceneOffset = smallLayout.offsets[4]
        let width = smallLayout.totalWidth
        var embeddings = batch.embeddings
        for row in 0..<batch.context.rowCount {
            let scene = Float(batch.context.scenes[row])
            embeddings.scalars[row * width + sceneOffset] = 0.3 * scene - 0.2
            embeddings.scalars[row * width + sceneOffset + 1] = 0.1 - 0.25 * scene
        }
        return embeddings
    }

    func testGradientsMatchFiniteDifferences() throws {
        // With these seeds no ReLU input lies within ε of zero, where one-sided slopes differ.
        let model = try makeModel()
        randomizeBiases(model, seed: 16)
        checkGradientsInFloat64Loss(model, ModelBatch(rows: 16, layout: smallLayout, tasks: Self.taskCount, seed: 6))
    }

    func testGradientsWithDropoutMatchFiniteDifferences() throws {
        // Masks depend only on the row seeds, so the loss is a fixed function of the parameters.
        // The task embeddings' gradient here (about 0.009) is below the floor, and a step of 1e-4
        // left a measured float32 rounding noise of up to 1.5e-4, which changes with the summation
        // order of the meta units' products. A step of 2e-4 halves it and, on this batch, crosses
        // no ReLU kink.
        let model = try makeModel(dropout: 0.3)
        randomizeBiases(model, seed: 12)
        checkGradientsInFloat64Loss(model, ModelBatch(rows: 16, layout: smallLayout, tasks: Self.taskCount, seed: 2),
                                    epsilon: 2e-4)
    }

    func testEmbeddingGradientMatchesFiniteDifferences() throws {
        let model = try makeModel()
        randomizeBiases(model, seed: 14)
        let batch = ModelBatch(rows: 8, layout: smallLayout, tasks: Self.taskCount, seed: 3)
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
        let batch = ModelBatch(rows: 32, layout: smallLayout, tasks: Self.taskCount, seed: 6)
        XCTAssertEqual(Set(batch.context.scenes), [0, 1, 2])
        lossAndGradients(model, batch)
        let zero = model.parameters.filter { $0.gradient.scalars.allSatisfy { $0 == 0 } }.map(\.name)
        XCTAssertEqual(zero, [], "parameters whose gradient stays zero")
    }

    func testOutputShapeAndParameterShapes() throws {
        let model = try makeModel()
        let batch = ModelBatch(rows: 5, layout: smallLayout, tasks: Self.taskCount, seed: 7)
        let graph = Graph(training: false)
        let trace = model.trace(embeddings: graph.constant(batch.embeddings), batch: batch.context)
        XCTAssertEqual(trace.logits.shape, [5, 3])
        XCTAssertEqual(trace.scenario.shape, [5, 4])
        XCTAssertEqual(trace.experts.shape, [5, 3, 5])
        XCTAssertEqual(trace.attention.shape, [5, 3, 3])

        let shapes = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.shape) })
        XCTAssertEqual(shapes["expert2.dense0.weight"], [12, 6])
        XCTAssertEqual(shapes["expert2.dense1.weight"], [6, 5])
        XCTAssertEqual(shapes["task.embeddings"], [3, 3])
        // Scenario view over [scene (2) ‖ age (2)] → Z = 4.
        XCTAssertEqual(shapes["scenario.dense.weight"], [4, 4])
        // Attention meta unit: [H (5) ‖ Te (3)] → H, generated from z.
        XCTAssertEqual(shapes["attention.meta.weightGenerator.weight"], [4, 8 * 5])
        XCTAssertEqual(shapes["attention.meta.weightGenerator.bias"], [8 * 5])
        XCTAssertEqual(shapes["attention.meta.biasGenerator.weight"], [4, 5])
        XCTAssertEqual(shapes["attention.score.weight"], [5, 1])
        XCTAssertEqual(shapes["tower2.meta1.weightGenerator.weight"], [4, 5 * 5])
        XCTAssertEqual(shapes["tower2.meta1.biasGenerator.bias"], [5])
        XCTAssertEqual(shapes["tower2.head.weight"], [5, 1])
        XCTAssertEqual(model.parameters.count, 3 * 2 * 2 + 1 + 2 + 4 + 1 + 3 * (2 * 4 + 2))

        let (weight, bias) = model.towerUnits[2][1].generate(from: trace.scenario)
        XCTAssertEqual(weight.shape, [5, 5, 5])
        XCTAssertEqual(bias.shape, [5, 5])
    }

    func testHeadOfTaskTrainsAgainstThatTasksLabels() throws {
        // The gradient of head t's bias is Σ_b (σ(z_bt) − y_bt) / B, which pins logit column t,
        // tower t and label column t together.
        let model = try makeModel()
        let batch = ModelBatch(rows: 12, layout: smallLayout, tasks: Self.taskCount, seed: 8)
        let graph = Graph(training: true)
        let logits = model.forward(embeddings: graph.constant(batch.embeddings), batch: batch.context).value
        lossAndGradients(model, batch)
        let parameters = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0) })
        for task in 0..<3 {
            var expected = 0.0
            for row in 0..<12 {
                let z = Double(logits.scalars[row * 3 + task])
                expected += (1 / (1 + exp(-z)) - Double(batch.labels.scalars[row * 3 + task])) / 12
            }
            let actual = try XCTUnwrap(parameters["tower\(task).head.bias"]).gradient.scalars[0]
            XCTAssertEqual(Double(actual), expected, accuracy: 1e-5, "task \(task)")
        }
    }

    func testAttentionSumsToOneOverExperts() throws {
        let model = try makeModel()
        randomizeBiases(model, seed: 15)
        let batch = ModelBatch(rows: 10, layout: smallLayout, tasks: Self.taskCount, seed: 9)
        let graph = Graph(training: false)
        let attention = model.trace(embeddings: graph.constant(batch.embeddings), batch: batch.context).attention.value
        for row in 0..<10 {
            for task in 0..<3 {
                let weights = (0..<3).map { attention.scalars[(row * 3 + task) * 3 + $0] }
                XCTAssertEqual(weights.reduce(0, +), 1, accuracy: 1e-5, "row \(row) task \(task)")
                XCTAssertTrue(weights.allSatisfy { $0 > 0 }, "row \(row) task \(task): \(weights)")
            }
        }
    }

    func testAttentionMatchesReference() throws {
        // Recompute α in float64 from the parameters, the traced z and the traced experts.
        let model = try makeModel()
        randomizeBiases(model, seed: 16)
        let batch = ModelBatch(rows: 4, layout: smallLayout, tasks: Self.taskCount, seed: 10)
        let graph = Graph(training: false)
        let trace = model.trace(embeddings: graph.constant(batch.embeddings), batch: batch.context)
        let parameters = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.value) })
        let tasks = try XCTUnwrap(parameters["task.embeddings"])
        let score = try XCTUnwrap(parameters["attention.score.weight"])
        let unit = model.attentionUnit
        let (expertWidth, taskWidth, expertCount) = (5, 3, 3)

        for row in 0..<4 {
            let z = (0..<4).map { Double(trace.scenario.value.scalars[row * 4 + $0]) }
            let (weight, bias) = referenceGeneratedParameters(unit, z: z)
            for task in 0..<3 {
                var scores: [Double] = []
                for expert in 0..<expertCount {
                    let expertStart = (row * expertCount + expert) * expertWidth
                    let input = (0..<expertWidth).map { Double(trace.experts.value.scalars[expertStart + $0]) }
                        + (0..<taskWidth).map { Double(tasks.scalars[task * taskWidth + $0]) }
                    var total = 0.0
                    for output in 0..<expertWidth {
                        var preActivation = bias[output]
                        for i in 0..<input.count { preActivation += input[i] * weight[i * expertWidth + output] }
                        total += max(preActivation, 0) * Double(score.scalars[output])
                    }
                    scores.append(total)
                }
                let largest = scores.max()!
                let exponentials = scores.map { exp($0 - largest) }
                let normalizer = exponentials.reduce(0, +)
                for expert in 0..<expertCount {
                    let actual = Double(trace.attention.value.scalars[(row * 3 + task) * expertCount + expert])
                    XCTAssertEqual(actual, exponentials[expert] / normalizer, accuracy: 1e-5,
                                   "row \(row) task \(task) expert \(expert)")
                }
            }
        }
    }

    func testMetaUnitMatchesReference() throws {
        var generator = RandomGenerator(seed: 17)
        let unit = MetaUnit(name: "unit", scenarioWidth: 3, inputWidth: 4, outputWidth: 2, generator: &generator)
        for parameter in unit.parameters where parameter.name.hasSuffix(".bias") {
            parameter.value = Tensor(shape: parameter.shape,
                                     scalars: (0..<parameter.value.count).map { _ in generator.nextUniform(low: -0.5, high: 0.5) })
        }
        let rows = 3
        let z = (0..<(rows * 3)).map { _ in generator.nextUniform(low: -1, high: 1) }
        let x = (0..<(rows * 2 * 4)).map { _ in generator.nextUniform(low: -1, high: 1) }
        let graph = Graph(training: false)
        let output = unit(graph.constant(Tensor(shape: [rows, 2, 4], scalars: x)),
                          scenario: graph.constant(Tensor(shape: [rows, 3], scalars: z))).value
        XCTAssertEqual(output.shape, [rows, 2, 2])

        for row in 0..<rows {
            let (weight, bias) = referenceGeneratedParameters(unit, z: (0..<3).map { Double(z[row * 3 + $0]) })
            for position in 0..<2 {
                for column in 0..<2 {
                    var expected = bias[column]
                    for i in 0..<4 { expected += Double(x[(row * 2 + position) * 4 + i]) * weight[i * 2 + column] }
                    expected = max(expected, 0)
                    XCTAssertEqual(Double(output.scalars[(row * 2 + position) * 2 + column]), expected, accuracy: 1e-5,
                                   "row \(row) position \(position) column \(column)")
                }
            }
        }
    }

    func testGeneratedWeightsDependOnScene() throws {
        let model = try makeModel()
        randomizeBiases(model, seed: 18)
        let batch = ModelBatch(rows: 9, layout: smallLayout, tasks: Self.taskCount, seed: 11)
        // With "age" among the scene features, rows of one scene would also differ by age, so the
        // age block is set equal across rows and only the scene distinguishes them.
        var embeddings = sceneConsistentEmbeddings(batch)
        let ageOffset = smallLayout.offsets[3]
        for row in 0..<9 {
            embeddings.scalars[row * smallLayout.totalWidth + ageOffset] = 0.2
            embeddings.scalars[row * smallLayout.totalWidth + ageOffset + 1] = -0.1
        }
        let graph = Graph(training: false)
        let scenario = model.trace(embeddings: graph.constant(embeddings), batch: batch.context).scenario
        let units = [model.attentionUnit] + model.towerUnits.flatMap { $0 }
        for (index, unit) in units.enumerated() {
            let weight = unit.generate(from: scenario).weight.value
            let size = weight.count / 9
            func rowWeights(_ row: Int) -> ArraySlice<Float> { weight.scalars[(row * size)..<((row + 1) * size)] }
            for row in 0..<9 {
                for other in 0..<9 where other > row {
                    let difference = zip(rowWeights(row), rowWeights(other)).map { abs($0 - $1) }.max()!
                    if batch.context.scenes[row] == batch.context.scenes[other] {
                        XCTAssertEqual(difference, 0, "unit \(index): rows \(row) and \(other) share a scene")
                    } else {
                        XCTAssertGreaterThan(difference, 1e-3, "unit \(index): rows \(row) and \(other) differ in scene")
                    }
                }
            }
        }
    }

    func testRowPermutationPermutesOutputs() throws {
        let model = try makeModel(dropout: 0.2)
        randomizeBiases(model, seed: 19)
        let rows = 12
        let batch = ModelBatch(rows: rows, layout: smallLayout, tasks: Self.taskCount, seed: 12)
        var generator = RandomGenerator(seed: 20)
        var permutation = Array(0..<rows)
        generator.shuffle(&permutation)
        let width = smallLayout.totalWidth
        let permutedEmbeddings = Tensor(shape: [rows, width], scalars: permutation.flatMap {
            batch.embeddings.scalars[($0 * width)..<(($0 + 1) * width)]
        })
        let permutedContext = BatchContext(scenes: permutation.map { batch.context.scenes[$0] },
                                           rowSeeds: permutation.map { batch.context.rowSeeds[$0] })

        let graph = Graph(training: true)
        let original = model.forward(embeddings: graph.constant(batch.embeddings), batch: batch.context).value
        let permuted = model.forward(embeddings: graph.constant(permutedEmbeddings), batch: permutedContext).value
        for (position, row) in permutation.enumerated() {
            for task in 0..<3 {
                XCTAssertEqual(permuted.scalars[position * 3 + task], original.scalars[row * 3 + task], accuracy: 1e-5,
                               "output row \(position) should be input row \(row), task \(task)")
            }
        }
    }

    func testDefaultsBuildFromConfig() throws {
        let layout = FeatureLayout(names: ["user_id", "scene"], widths: [8, 8])
        let model = try ModelConfig(name: "m2m").make(ModelContext(layout: layout, taskCount: 2, sceneCount: 5, seed: 1))
        let shapes = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.shape) })
        XCTAssertEqual(model.taskCount, 2)
        XCTAssertEqual(shapes["expert3.dense0.weight"], [16, 128])
        XCTAssertNil(shapes["expert4.dense0.weight"])
        XCTAssertEqual(shapes["task.embeddings"], [2, 16])
        XCTAssertEqual(shapes["scenario.dense.weight"], [8, 64])
        XCTAssertEqual(shapes["attention.meta.weightGenerator.weight"], [64, 80 * 64])
        XCTAssertEqual(shapes["tower1.meta2.weightGenerator.weight"], [64, 64 * 64])
        XCTAssertNil(shapes["tower1.meta3.weightGenerator.weight"])
    }

    func testInvalidOptionsNameTheirKey() {
        let cases: [(key: String, value: JSONValue)] = [
            ("experts", .number(0)),
            ("expertUnits", .array([])),
            ("expertUnits", .array([.number(8), .number(-1)])),
            ("taskEmbeddingWidth", .number(0)),
            ("sceneFeatures", .array([])),
            ("sceneFeatures", .array([.string("scene"), .string("scene")])),
            ("sceneFeatures", .array([.string("tab")])),
            ("scenarioWidth", .number(-4)),
            ("metaLayers", .number(0)),
            ("dropout", .number(1)),
            ("metaLayers", .string("3")),
            ("metaLayer", .number(3)),
        ]
        let context = ModelContext(layout: smallLayout, taskCount: 2, sceneCount: 3, seed: 1)
        for (key, value) in cases {
            XCTAssertThrowsError(try ModelConfig(name: "m2m", options: [key: value]).make(context), "\(key)") { error in
                XCTAssertTrue("\(error)".hasPrefix("model.\(key):"), "\(key) = \(value): \(error)")
            }
        }
    }
}

/// Returns the loss of `model` on `batch`, summed over tasks and averaged over rows, computed in
/// float64 from the float32 logits.
func float64Loss(_ model: RankingModel, _ batch: ModelBatch) -> Double {
    let graph = Graph(training: true)
    let logits = model.forward(embeddings: graph.constant(batch.embeddings), batch: batch.context).value
    var total = 0.0
    for (logit, label) in zip(logits.scalars, batch.labels.scalars) {
        let z = Double(logit)
        total += max(z, 0) - z * Double(label) + log1p(exp(-abs(z)))
    }
    return total / Double(batch.context.rowCount)
}

/// Checks every parameter's gradient along a direction v against a central difference of
/// `float64Loss`, like `checkDirectionalGradients`.
///
/// This model has about 1,800 ReLUs on a 16-row test batch, so a step of 3e-4 often moves one of
/// them across its kink. A step of 1e-4 rarely does, but then the float32 loss, whose rounding
/// step near 2 is 2.4e-7, would move the difference by 1e-3. Summing in float64 from the logits
/// leaves a noise near 1e-4, which `gradientFloor` absorbs for small gradients: the check passes
/// when `|numeric − analytic| < tolerance · max(|numeric|, |analytic|, gradientFloor)`.
func checkGradientsInFloat64Loss(_ model: RankingModel, _ batch: ModelBatch, epsilon: Float = 1e-4,
                                 tolerance: Double = 1e-2, gradientFloor: Double = 1e-2,
                                 file: StaticString = #filePath, line: UInt = #line) {
    lossAndGradients(model, batch)
    var generator = RandomGenerator(seed: 99)
    for parameter in model.parameters {
        let analyticGradient = parameter.gradient
        let direction = analyticGradient.scalars.map { ($0 < 0 ? -1 : 1) * generator.nextUniform(low: 0.5, high: 1) }
        let original = parameter.value
        var analytic = 0.0
        for i in 0..<direction.count { analytic += Double(analyticGradient.scalars[i]) * Double(direction[i]) }

        for i in 0..<direction.count { parameter.value.scalars[i] = original.scalars[i] + epsilon * direction[i] }
        let plus = float64Loss(model, batch)
        for i in 0..<direction.count { parameter.value.scalars[i] = original.scalars[i] - epsilon * direction[i] }
        let minus = float64Loss(model, batch)
        parameter.value = original

        let numeric = (plus - minus) / (2 * Double(epsilon))
        let error = abs(numeric - analytic) / max(abs(numeric), abs(analytic), gradientFloor)
        XCTAssertFalse(analytic.isNaN, "\(parameter.name): NaN gradient", file: file, line: line)
        XCTAssertLessThan(error, tolerance,
                          "\(parameter.name): analytic \(analytic) vs numeric \(numeric)", file: file, line: line)
    }
}

/// Recomputes a meta unit's generated weight `[N·M]` (row-major `[N, M]`) and bias `[M]` for one
/// row's z in float64.
func referenceGeneratedParameters(_ unit: MetaUnit, z: [Double]) -> (weight: [Double], bias: [Double]) {
    func apply(_ dense: Dense) -> [Double] {
        let outputs = dense.outputWidth
        return (0..<outputs).map { column in
            var total = Double(dense.bias.value.scalars[column])
            for (i, value) in z.enumerated() { total += value * Double(dense.weight.value.scalars[i * outputs + column]) }
            return total
        }
    }
    return (apply(unit.weightGenerator), apply(unit.biasGenerator))
}
