import Models
import TensorCore
import XCTest

final class STARTests: XCTestCase {
    let sceneCount = 3
    let taskCount = 3

    func makeModel(dropout: Float = 0) throws -> STAR {
        var options = STAR.Options()
        options.hiddenUnits = [6, 4]
        options.auxiliaryUnits = [3]
        options.dropout = dropout
        return try STAR(options: options, layout: smallLayout, taskCount: taskCount, sceneCount: sceneCount, seed: 5)
    }

    /// Moves every parameter off its initial value, so the scene weights differ per scene and from
    /// ones, and no bias is zero (no ReLU input at its kink).
    func perturb(_ model: STAR, seed: UInt64) {
        randomizeBiases(model, seed: seed)
        for parameter in model.parameters where parameter.name.hasSuffix(".scene.weight") || parameter.name.hasSuffix("gamma") {
            randomizeParameter(model, name: parameter.name, low: 0.7, high: 1.3, seed: seed &+ UInt64(parameter.value.count))
        }
        for parameter in model.parameters where parameter.name.hasSuffix("beta") {
            randomizeParameter(model, name: parameter.name, low: -0.3, high: 0.3, seed: seed &+ 1 &+ UInt64(parameter.value.count))
        }
    }

    /// A batch of 12 rows with the scenes out of order and every scene present.
    func mixedBatch(seed: UInt64) -> SceneBatch {
        SceneBatch(scenes: [2, 0, 1, 1, 2, 0, 0, 2, 1, 0, 2, 1], layout: smallLayout, tasks: taskCount, seed: seed)
    }

    // MARK: Gradients

    func testGradientsMatchFiniteDifferences() throws {
        // ModelBatch assigns scene b mod 3, so all three scenes' parameters are exercised.
        let model = try makeModel()
        perturb(model, seed: 11)
        checkDirectionalGradients(model, ModelBatch(rows: 16, layout: smallLayout, tasks: taskCount, seed: 1))
    }

    func testGradientsWithDropoutMatchFiniteDifferences() throws {
        let model = try makeModel(dropout: 0.3)
        perturb(model, seed: 22)
        checkDirectionalGradients(model, ModelBatch(rows: 16, layout: smallLayout, tasks: taskCount, seed: 2))
    }

    func testEmbeddingGradientMatchesFiniteDifferences() throws {
        // The embeddings reach the loss through the batch statistics, every row's normalization
        // and the auxiliary network.
        let model = try makeModel()
        perturb(model, seed: 14)
        checkEmbeddingGradient(model, ModelBatch(rows: 8, layout: smallLayout, tasks: taskCount, seed: 3))
    }

    func testEveryParameterReceivesGradient() throws {
        let model = try makeModel(dropout: 0.1)
        lossAndGradients(model, ModelBatch(rows: 32, layout: smallLayout, tasks: taskCount, seed: 6))
        let zero = model.parameters.filter { $0.gradient.scalars.allSatisfy { $0 == 0 } }.map(\.name)
        XCTAssertEqual(zero, [], "parameters whose gradient stays zero")
    }

    func testEverySceneSliceReceivesGradient() throws {
        let model = try makeModel()
        lossAndGradients(model, ModelBatch(rows: 12, layout: smallLayout, tasks: taskCount, seed: 6))
        for parameter in model.parameters where parameter.name.contains(".scene.") {
            let sliceCount = parameter.value.count / sceneCount
            for scene in 0..<sceneCount {
                let slice = parameter.gradient.scalars[(scene * sliceCount)..<((scene + 1) * sliceCount)]
                XCTAssertTrue(slice.contains { $0 != 0 }, "\(parameter.name) scene \(scene)")
            }
        }
    }

    // MARK: Shapes and values

    func testOutputShapeAndParameterShapes() throws {
        let model = try makeModel()
        let logits = forwardLogits(model, mixedBatch(seed: 7), training: false)
        XCTAssertEqual(logits.shape, [12, 3])
        let shapes = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.shape) })
        let width = smallLayout.totalWidth
        XCTAssertEqual(shapes["norm.shared.gamma"], [width])
        XCTAssertEqual(shapes["norm.shared.beta"], [width])
        XCTAssertEqual(shapes["norm.scene.gamma"], [3, width])
        XCTAssertEqual(shapes["norm.scene.beta"], [3, width])
        XCTAssertEqual(shapes["star0.shared.weight"], [width, 6])
        XCTAssertEqual(shapes["star0.scene.weight"], [3, width, 6])
        XCTAssertEqual(shapes["star1.shared.bias"], [4])
        XCTAssertEqual(shapes["star1.scene.bias"], [3, 4])
        XCTAssertEqual(shapes["head.shared.weight"], [4, 3])
        XCTAssertEqual(shapes["head.scene.weight"], [3, 4, 3])
        XCTAssertEqual(shapes["head.scene.bias"], [3, 3])
        // The auxiliary network reads the scene embedding (width 2).
        XCTAssertEqual(shapes["auxiliary.dense0.weight"], [2, 3])
        XCTAssertEqual(shapes["auxiliary.head.weight"], [3, 3])
        XCTAssertEqual(model.parameters.count, 4 + 3 * 4 + 2 * 2)
    }

    func testSceneParametersStartAtTheSharedNetwork() throws {
        let model = try makeModel()
        let parameters = parametersByName(model)
        XCTAssertTrue(parameters["star0.scene.weight"]!.value.scalars.allSatisfy { $0 == 1 })
        XCTAssertTrue(parameters["head.scene.weight"]!.value.scalars.allSatisfy { $0 == 1 })
        XCTAssertTrue(parameters["star1.scene.bias"]!.value.scalars.allSatisfy { $0 == 0 })
        XCTAssertTrue(parameters["norm.scene.gamma"]!.value.scalars.allSatisfy { $0 == 1 })
        XCTAssertTrue(parameters["norm.scene.beta"]!.value.scalars.allSatisfy { $0 == 0 })
    }

    func testLogitsMatchFloat64ReferenceAtInference() throws {
        let model = try makeModel()
        perturb(model, seed: 31)
        // Running statistics away from their initial 0 and 1.
        var generator = RandomGenerator(seed: 32)
        let width = smallLayout.totalWidth
        model.normalization.statistics.runningMean = Tensor(shape: [width], scalars: (0..<width).map { _ in
            generator.nextUniform(low: -0.2, high: 0.2) })
        model.normalization.statistics.runningVariance = Tensor(shape: [width], scalars: (0..<width).map { _ in
            generator.nextUniform(low: 0.5, high: 1.5) })
        let batch = mixedBatch(seed: 33)
        let expected = referenceLogits(model, batch, training: false)
        let actual = forwardLogits(model, batch, training: false)
        for i in 0..<expected.count {
            XCTAssertEqual(Double(actual.scalars[i]), expected[i], accuracy: 1e-4, "element \(i)")
        }
    }

    func testLogitsMatchFloat64ReferenceInTraining() throws {
        let model = try makeModel()
        perturb(model, seed: 34)
        let batch = mixedBatch(seed: 35)
        let expected = referenceLogits(model, batch, training: true)
        let actual = forwardLogits(model, batch, training: true)
        for i in 0..<expected.count {
            XCTAssertEqual(Double(actual.scalars[i]), expected[i], accuracy: 1e-4, "element \(i)")
        }
    }

    func testLogitIsSumOfMainAndAuxiliaryLogits() throws {
        // Both parts stay logits: the output is their plain sum, with no sigmoid on either.
        let model = try makeModel()
        perturb(model, seed: 36)
        let batch = mixedBatch(seed: 37)
        let graph = Graph(training: false)
        let input = graph.constant(batch.embeddings)
        let main = model.mainLogits(embeddings: input, batch: batch.context).value
        let auxiliary = model.auxiliaryLogits(embeddings: input, batch: batch.context).value
        let output = model.forward(embeddings: input, batch: batch.context).value
        for i in 0..<output.count {
            XCTAssertEqual(output.scalars[i], main.scalars[i] + auxiliary.scalars[i], accuracy: 1e-6, "element \(i)")
        }
        XCTAssertTrue(output.scalars.contains { $0 < 0 }, "logits should not all be positive: \(output.scalars)")
    }

    func testRunningStatisticsMoveOnlyInTraining() throws {
        let model = try makeModel()
        let batch = mixedBatch(seed: 38)
        _ = forwardLogits(model, batch, training: false)
        XCTAssertEqual(model.normalization.statistics.runningMean, Tensor(zeros: [smallLayout.totalWidth]))
        _ = forwardLogits(model, batch, training: true)
        XCTAssertNotEqual(model.normalization.statistics.runningMean, Tensor(zeros: [smallLayout.totalWidth]))
    }

    func testRunningStatisticsAverageTheFirstBatches() throws {
        // The first batch sets the statistics, and the second moves them halfway (m₂ = 1 − 1/2).
        let model = try makeModel()
        let first = mixedBatch(seed: 39)
        let second = SceneBatch(scenes: [0, 1, 2, 2, 1], layout: smallLayout, tasks: taskCount, seed: 40)
        _ = forwardLogits(model, first, training: true)
        let (firstMean, firstVariance) = columnStatistics(first.embeddings)
        let statistics = model.normalization.statistics
        for column in 0..<smallLayout.totalWidth {
            XCTAssertEqual(Double(statistics.runningMean.scalars[column]), firstMean[column], accuracy: 1e-6, "column \(column)")
            XCTAssertEqual(Double(statistics.runningVariance.scalars[column]), firstVariance[column], accuracy: 1e-6,
                           "column \(column)")
        }
        _ = forwardLogits(model, second, training: true)
        let (secondMean, secondVariance) = columnStatistics(second.embeddings)
        for column in 0..<smallLayout.totalWidth {
            XCTAssertEqual(Double(statistics.runningMean.scalars[column]), (firstMean[column] + secondMean[column]) / 2,
                           accuracy: 1e-6, "column \(column)")
            XCTAssertEqual(Double(statistics.runningVariance.scalars[column]),
                           (firstVariance[column] + secondVariance[column]) / 2, accuracy: 1e-6, "column \(column)")
        }
        XCTAssertEqual(model.normalization.updateCount, 2)
    }

    /// Returns the mean and biased variance of every column of `x` `[B, N]` in float64.
    func columnStatistics(_ x: Tensor) -> (mean: [Double], variance: [Double]) {
        let (rows, width) = (x.shape[0], x.shape[1])
        var means: [Double] = []
        var variances: [Double] = []
        for column in 0..<width {
            let values = (0..<rows).map { Double(x[$0, column]) }
            let mean = values.reduce(0, +) / Double(rows)
            means.append(mean)
            variances.append(values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(rows))
        }
        return (means, variances)
    }

    // MARK: Defect guards

    func testHeadOfTaskTrainsAgainstThatTasksLabels() throws {
        // Head bias gradients: shared and auxiliary Σ_b (σ(z_bt) − y_bt) / B over all rows, scene s's
        // row of the scene bias the same sum over that scene's rows only.
        let model = try makeModel()
        perturb(model, seed: 8)
        let batch = ModelBatch(rows: 12, layout: smallLayout, tasks: taskCount, seed: 8)
        let graph = Graph(training: true)
        let logits = model.forward(embeddings: graph.constant(batch.embeddings), batch: batch.context).value
        lossAndGradients(model, batch)
        let parameters = parametersByName(model)
        for task in 0..<taskCount {
            var expected = 0.0
            var expectedByScene = [Double](repeating: 0, count: sceneCount)
            for row in 0..<12 {
                let residual = (logistic(Double(logits.scalars[row * 3 + task])) - Double(batch.labels.scalars[row * 3 + task])) / 12
                expected += residual
                expectedByScene[Int(batch.context.scenes[row])] += residual
            }
            XCTAssertEqual(Double(parameters["head.shared.bias"]!.gradient.scalars[task]), expected, accuracy: 1e-5, "task \(task)")
            XCTAssertEqual(Double(parameters["auxiliary.head.bias"]!.gradient.scalars[task]), expected, accuracy: 1e-5,
                           "auxiliary, task \(task)")
            for scene in 0..<sceneCount {
                XCTAssertEqual(Double(parameters["head.scene.bias"]!.gradient.scalars[scene * 3 + task]),
                               expectedByScene[scene], accuracy: 1e-5, "task \(task) scene \(scene)")
            }
        }
    }

    func testSceneParametersChangeOnlyTheirRows() throws {
        // Changing every scene-1 slice moves the logits of scene-1 rows and leaves every other row's
        // logits bit for bit, in both modes (batch statistics do not read scene parameters).
        for training in [false, true] {
            let model = try makeModel()
            perturb(model, seed: 40)
            let batch = mixedBatch(seed: 41)
            let before = forwardLogits(model, batch, training: training)
            for parameter in model.parameters where parameter.name.contains(".scene.") {
                let sliceCount = parameter.value.count / sceneCount
                for i in sliceCount..<(2 * sliceCount) { parameter.value.scalars[i] += 0.25 }
            }
            let after = forwardLogits(model, batch, training: training)
            for row in 0..<12 {
                let rowBefore = Array(before.scalars[(row * 3)..<(row * 3 + 3)])
                let rowAfter = Array(after.scalars[(row * 3)..<(row * 3 + 3)])
                if batch.context.scenes[row] == 1 {
                    XCTAssertNotEqual(rowAfter, rowBefore, "scene-1 row \(row), training \(training)")
                } else {
                    XCTAssertEqual(rowAfter, rowBefore, "row \(row) of scene \(batch.context.scenes[row]), training \(training)")
                }
            }
        }
    }

    func testPermutingRowsPermutesOutputs() throws {
        let model = try makeModel(dropout: 0.2)
        perturb(model, seed: 42)
        let permutation = [7, 2, 11, 0, 5, 9, 1, 4, 10, 3, 8, 6]
        // Batch statistics in training are sums over rows, so their rounding depends on the order.
        checkPermutationEquivariance(model, mixedBatch(seed: 43), permutation: permutation, training: true, accuracy: 1e-5)
        checkPermutationEquivariance(model, mixedBatch(seed: 43), permutation: permutation, training: false, accuracy: 1e-6)
    }

    func testMixedBatchMatchesRowsRunAlone() throws {
        // At inference, where normalization uses the running statistics, a row's output cannot
        // depend on the other rows of its batch.
        let model = try makeModel()
        perturb(model, seed: 44)
        _ = forwardLogits(model, mixedBatch(seed: 45), training: true)
        checkRowsMatchRunAlone(model, mixedBatch(seed: 46), training: false, accuracy: 1e-6)
    }

    // MARK: Options

    func testInvalidOptionsNameTheirKey() {
        let cases: [(String, String)] = [
            (#"{"name": "star", "hiddenUnits": []}"#, "model.hiddenUnits"),
            (#"{"name": "star", "auxiliaryUnits": [0]}"#, "model.auxiliaryUnits"),
            (#"{"name": "star", "dropout": 1}"#, "model.dropout"),
            (#"{"name": "star", "sceneFeature": "tab"}"#, "model.sceneFeature"),
            (#"{"name": "star", "hiddenUnit": [8]}"#, "model.hiddenUnit"),
            (#"{"name": "star", "dropout": "high"}"#, "model.dropout"),
            (#"{"name": "star", "normalizationMomentum": 1}"#, "model.normalizationMomentum"),
        ]
        for (json, key) in cases {
            XCTAssertThrowsError(try makeRegisteredModel(json: json, layout: smallLayout, taskCount: 3, sceneCount: 3),
                                 json) { error in
                XCTAssertTrue("\(error)".contains(key + ":"), "\(json): \(error)")
            }
        }
    }

    func testRegistryBuildsWithDefaults() throws {
        let model = try makeRegisteredModel(json: #"{"name": "star"}"#, layout: smallLayout, taskCount: 2, sceneCount: 5)
        let shapes = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.shape) })
        XCTAssertEqual(shapes["star0.scene.weight"], [5, smallLayout.totalWidth, 128])
        XCTAssertEqual(shapes["star1.shared.weight"], [128, 64])
        XCTAssertEqual(shapes["auxiliary.dense0.weight"], [2, 32])
        XCTAssertEqual(shapes["head.scene.weight"], [5, 64, 2])
    }

    // MARK: Reference

    /// Recomputes STAR's logits `[B·T]` in float64 from the parameter values, row by row with each
    /// row's own scene: batch statistics in training, running statistics otherwise.
    func referenceLogits(_ model: STAR, _ batch: SceneBatch, training: Bool) -> [Double] {
        let parameters = parametersByName(model)
        func values(_ name: String) -> [Double] { parameters[name]!.value.scalars.map(Double.init) }
        let width = smallLayout.totalWidth
        let rows = batch.context.rowCount
        let x = batch.embeddings.scalars.map(Double.init)

        var mean = model.normalization.statistics.runningMean.scalars.map(Double.init)
        var variance = model.normalization.statistics.runningVariance.scalars.map(Double.init)
        if training {
            for column in 0..<width {
                let average = (0..<rows).map { x[$0 * width + column] }.reduce(0, +) / Double(rows)
                mean[column] = average
                variance[column] = (0..<rows).map { pow(x[$0 * width + column] - average, 2) }.reduce(0, +) / Double(rows)
            }
        }

        /// `relu?(h · (W ⊙ W_s) + b + b_s)` for one row.
        func starLayer(_ name: String, _ h: [Double], scene: Int, relu: Bool) -> [Double] {
            let shared = values(name + ".shared.weight")
            let sceneWeights = values(name + ".scene.weight")
            let output = parameters[name + ".shared.weight"]!.shape[1]
            let count = h.count * output
            return (0..<output).map { j in
                var total = values(name + ".shared.bias")[j] + values(name + ".scene.bias")[scene * output + j]
                for i in 0..<h.count {
                    total += h[i] * shared[i * output + j] * sceneWeights[scene * count + i * output + j]
                }
                return relu ? max(total, 0) : total
            }
        }
        func dense(_ name: String, _ h: [Double], relu: Bool) -> [Double] {
            let weight = values(name + ".weight")
            let bias = values(name + ".bias")
            return (0..<bias.count).map { j in
                var total = bias[j]
                for i in 0..<h.count { total += h[i] * weight[i * bias.count + j] }
                return relu ? max(total, 0) : total
            }
        }

        var logits: [Double] = []
        for row in 0..<rows {
            let scene = Int(batch.context.scenes[row])
            var h = (0..<width).map { column -> Double in
                let normalized = (x[row * width + column] - mean[column]) / (variance[column] + 1e-5).squareRoot()
                let gamma = values("norm.shared.gamma")[column] * values("norm.scene.gamma")[scene * width + column]
                let beta = values("norm.shared.beta")[column] + values("norm.scene.beta")[scene * width + column]
                return gamma * normalized + beta
            }
            h = starLayer("star0", h, scene: scene, relu: true)
            h = starLayer("star1", h, scene: scene, relu: true)
            let main = starLayer("head", h, scene: scene, relu: false)

            let sceneOffset = smallLayout.offsets[4]
            let sceneEmbedding = (0..<2).map { x[row * width + sceneOffset + $0] }
            let auxiliary = dense("auxiliary.head", dense("auxiliary.dense0", sceneEmbedding, relu: true), relu: false)
            logits += zip(main, auxiliary).map { $0 + $1 }
        }
        return logits
    }
}
