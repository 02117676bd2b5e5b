import Models
import TensorCore
import XCTest

final class APGTests: XCTestCase {
    /// The option sets every test of the forward pass and gradients runs over.
    static let variants: [(label: String, options: APG.Options)] = {
        var group = APG.Options()
        group.hiddenUnits = [8, 5]

        var mix = group
        mix.condition = .mix
        mix.adaptiveBias = true

        var selfWise = group
        selfWise.condition = .selfWise
        selfWise.overParameterizationWidth = 3

        var everything = mix
        everything.overParameterizationWidth = 4
        everything.rank = 3
        everything.dropout = 0.25
        // Ranks above the condition width, so the layers run without forming the cores.
        var wideGroup = group
        wideGroup.hiddenUnits = [16, 12]

        var wideMix = mix
        wideMix.rank = 9
        wideMix.overParameterizationWidth = 10
        return [("group", group), ("mix+adaptiveBias", mix), ("self+overParameterization", selfWise),
                ("mix+all", everything), ("group, K > C", wideGroup), ("mix+overParameterization, K > C", wideMix)]
    }()

    func makeModel(_ options: APG.Options, layout: FeatureLayout = smallLayout, seed: UInt64 = 5) throws -> APG {
        try APG(options: options, layout: layout, taskCount: 1, seed: seed)
    }

    func logits(_ model: APG, embeddings: Tensor, context: BatchContext, training: Bool = false) -> Tensor {
        let graph = Graph(training: training)
        return model.forward(embeddings: graph.constant(embeddings), batch: context).value
    }

    // MARK: Forward

    func testForwardMatchesFloat64Reference() throws {
        for (label, options) in Self.variants where options.dropout == 0 {
            let model = try makeModel(options)
            randomizeBiases(model, seed: 21)
            let batch = ModelBatch(rows: 7, layout: smallLayout, tasks: 1, seed: 4)
            let actual = logits(model, embeddings: batch.embeddings, context: batch.context)
            let expected = referenceLogits(model, options: options, layout: smallLayout, embeddings: batch.embeddings)
            XCTAssertEqual(actual.shape, [7, 1], label)
            for row in 0..<7 {
                XCTAssertEqual(Double(actual.scalars[row]), expected[row], accuracy: 1e-5, "\(label) row \(row)")
            }
        }
    }

    func testOutputShapeAndParameterShapes() throws {
        var options = APG.Options()
        options.hiddenUnits = [8, 5]
        let model = try makeModel(options)
        let batch = ModelBatch(rows: 5, layout: smallLayout, tasks: 1, seed: 7)
        XCTAssertEqual(logits(model, embeddings: batch.embeddings, context: batch.context).shape, [5, 1])
        XCTAssertEqual(model.taskCount, 1)

        // Default ranks: ceil(min(12, 8) / 4) = 2 and ceil(min(8, 5) / 4) = 2. The condition is
        // the scene embedding, width 2.
        let shapes = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.shape) })
        let expected: [String: [Int]] = [
            "apg0.V": [12, 2], "apg0.U": [2, 8], "apg0.bias": [8], "apg0.core.weight": [2, 4], "apg0.core.bias": [4],
            "apg1.V": [8, 2], "apg1.U": [2, 5], "apg1.bias": [5], "apg1.core.weight": [2, 4], "apg1.core.bias": [4],
            "head.weight": [5, 1], "head.bias": [1],
        ]
        XCTAssertEqual(shapes, expected)
    }

    func testOptionVariantParameterShapes() throws {
        // mix: condition = scene (2) ‖ user_id (3) ‖ video_id (3) = 8 wide; rank 3; P = 4.
        let model = try makeModel(Self.variants[3].options)
        let shapes = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.shape) })
        let expected: [String: [Int]] = [
            "apg0.V1": [12, 4], "apg0.V2": [4, 3], "apg0.U1": [3, 4], "apg0.U2": [4, 8],
            "apg0.core.weight": [8, 9], "apg0.core.bias": [9],
            "apg0.adaptiveBias.weight": [8, 8], "apg0.adaptiveBias.bias": [8],
            "apg1.V1": [8, 4], "apg1.V2": [4, 3], "apg1.U1": [3, 4], "apg1.U2": [4, 5],
            "apg1.core.weight": [8, 9], "apg1.core.bias": [9],
            "apg1.adaptiveBias.weight": [8, 5], "apg1.adaptiveBias.bias": [5],
            "head.weight": [5, 1], "head.bias": [1],
        ]
        XCTAssertEqual(shapes, expected)

        // self: each layer's condition is its own input, 12 and then 8 wide.
        let selfWise = try makeModel(Self.variants[2].options)
        let selfShapes = Dictionary(uniqueKeysWithValues: selfWise.parameters.map { ($0.name, $0.shape) })
        XCTAssertEqual(selfShapes["apg0.core.weight"], [12, 4])
        XCTAssertEqual(selfShapes["apg1.core.weight"], [8, 4])
    }

    func testKuaiRandParameterCount() throws {
        // 36 features × D = 8, defaults: layer 0 is 288 → 256 with K = 64 and layer 1 is 256 → 128
        // with K = 32, both conditioned on the 8-wide scene embedding:
        //   layer 0: V 288·64 + U 64·256 + b 256 + W_S 8·4096 + b_S 4096 = 71,936
        //   layer 1: V 256·32 + U 32·128 + b 128 + W_S 8·1024 + b_S 1024 = 21,632
        //   head: 128 + 1 = 129
        let names = (0..<35).map { "feature\($0)" } + ["scene"]
        let layout = FeatureLayout(names: names, widths: Array(repeating: 8, count: 36))
        let model = try makeModel(APG.Options(), layout: layout)
        XCTAssertEqual(model.layers.map(\.rank), [64, 32])
        XCTAssertEqual(model.parameters.reduce(0) { $0 + $1.value.count }, 93_697)
    }

    // MARK: Gradients

    /// Checks every parameter of a variant. At initialization the chained low-rank products make
    /// directional derivatives as small as 1e-3, where float32 rounding of the loss is a few
    /// percent of a central difference, so the weights are doubled first (derivatives grow about
    /// a hundredfold). With these seeds no ReLU input of any variant lies within ε of zero.
    func checkGradients(variant index: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try makeModel(Self.variants[index].options)
        randomizeBiases(model, seed: 15)
        for parameter in model.parameters where !parameter.name.hasSuffix(".bias") {
            parameter.value = Tensor(shape: parameter.shape, scalars: parameter.value.scalars.map { $0 * 2 })
        }
        checkDirectionalGradients(model, ModelBatch(rows: 16, layout: smallLayout, tasks: 1, seed: 5),
                                  file: file, line: line)
    }

    func testGradientsGroup() throws { try checkGradients(variant: 0) }
    func testGradientsMixAdaptiveBias() throws { try checkGradients(variant: 1) }
    func testGradientsSelfOverParameterized() throws { try checkGradients(variant: 2) }
    func testGradientsAllOptionsWithDropout() throws { try checkGradients(variant: 3) }
    func testGradientsGroupWithoutCores() throws { try checkGradients(variant: 4) }
    func testGradientsMixWithoutCores() throws { try checkGradients(variant: 5) }

    func testLayerPathsAgree() throws {
        // K 9 > C 8, so the default path skips the cores. Forming them must give the same output
        // and gradients to float rounding.
        let model = try makeModel(Self.variants[5].options)
        randomizeBiases(model, seed: 17)
        let layer = model.layers[0]
        XCTAssertLessThan(layer.conditionWidth, layer.rank)
        let x = ModelBatch(rows: 32, layout: smallLayout, tasks: 1, seed: 6).embeddings
        let distinct = ModelBatch(rows: 32, layout: FeatureLayout(names: ["c"], widths: [layer.conditionWidth]),
                                  tasks: 1, seed: 7).embeddings
        // Three condition values over 32 rows, as a scene embedding gives: cores formed per group.
        let width = layer.conditionWidth
        let scenes = Tensor(shape: [32, width], scalars: (0..<32).flatMap { row in
            distinct.scalars[(row % 3 * width)..<(row % 3 * width + width)]
        })
        for condition in [distinct, scenes] {
            try assertLayerPathsAgree(layer, x: x, condition: condition)
        }
    }

    func assertLayerPathsAgree(_ layer: APGLayer, x: Tensor, condition: Tensor) throws {
        var results: [(output: [Float], dx: [Float], dc: [Float], dw: [[Float]])] = []
        for formingCores in [false, true] {
            for parameter in layer.parameters { parameter.zeroGradient() }
            let graph = Graph()
            let input = graph.input(x)
            let conditionInput = graph.input(condition)
            let output = layer(input, condition: conditionInput, formingCores: formingCores)
            graph.backward(sum(output * output))
            results.append((output.value.scalars, input.gradient!.scalars, conditionInput.gradient!.scalars,
                            layer.parameters.map(\.gradient.scalars)))
        }
        func assertClose(_ a: [Float], _ b: [Float], _ label: String) {
            XCTAssertEqual(a.count, b.count, label)
            let scale = max(b.map(abs).max() ?? 0, 1e-6)
            let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(worst / scale, 1e-5, label)
        }
        assertClose(results[0].output, results[1].output, "output")
        assertClose(results[0].dx, results[1].dx, "input gradient")
        assertClose(results[0].dc, results[1].dc, "condition gradient")
        for (index, parameter) in layer.parameters.enumerated() {
            assertClose(results[0].dw[index], results[1].dw[index], parameter.name)
        }
    }

    func testEmbeddingGradientMatchesFiniteDifferences() throws {
        // In mix mode the scene, user and item blocks reach the loss both as layer input and as
        // condition, so this checks the gradient through the generators too.
        for variant in Self.variants {
            let model = try makeModel(variant.options)
            randomizeBiases(model, seed: 14)
            let batch = ModelBatch(rows: 8, layout: smallLayout, tasks: 1, seed: 3)
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
            let numeric = (lossValue(model, batch, embeddings: plus) - lossValue(model, batch, embeddings: minus))
                / (2 * Double(epsilon))
            let analytic = zip(analyticGradient.scalars, direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(analytic, numeric, accuracy: 1e-2 * max(abs(numeric), 1e-3), variant.label)
        }
    }

    func testEveryParameterReceivesGradient() throws {
        for variant in Self.variants {
            let model = try makeModel(variant.options)
            // ModelBatch gives row r scene r % 3, so all three scenes are present.
            let batch = ModelBatch(rows: 32, layout: smallLayout, tasks: 1, seed: 6)
            XCTAssertEqual(Set(batch.context.scenes), [0, 1, 2])
            lossAndGradients(model, batch)
            let zero = model.parameters.filter { $0.gradient.scalars.allSatisfy { $0 == 0 } }.map(\.name)
            XCTAssertEqual(zero, [], "\(variant.label): parameters whose gradient stays zero")
        }
    }

    func testHeadTrainsAgainstFirstLabelColumn() throws {
        // The head bias gradient is Σ_b (σ(z_b) − y_b0) / B, which ties the single logit to label
        // column 0.
        let model = try makeModel(Self.variants[0].options)
        let batch = ModelBatch(rows: 12, layout: smallLayout, tasks: 1, seed: 8)
        let z = logits(model, embeddings: batch.embeddings, context: batch.context, training: true)
        lossAndGradients(model, batch)
        var expected = 0.0
        for row in 0..<12 {
            expected += (1 / (1 + exp(-Double(z.scalars[row]))) - Double(batch.labels.scalars[row])) / 12
        }
        let bias = try XCTUnwrap(model.parameters.first { $0.name == "head.bias" })
        XCTAssertEqual(Double(bias.gradient.scalars[0]), expected, accuracy: 1e-5)
    }

    // MARK: Defect guards

    func testCoreGeneratorBiasIsIdentity() throws {
        for variant in Self.variants {
            let model = try makeModel(variant.options)
            for (index, layer) in model.layers.enumerated() {
                let rank = layer.rank
                let bias = layer.coreGenerator.bias.value.scalars
                XCTAssertEqual(bias.count, rank * rank, "\(variant.label) layer \(index)")
                for row in 0..<rank {
                    for column in 0..<rank {
                        XCTAssertEqual(bias[row * rank + column], row == column ? 1 : 0,
                                       "\(variant.label) layer \(index) bias[\(row), \(column)]")
                    }
                }
            }
        }
    }

    func testCoresStartNearIdentity() throws {
        // On the KuaiRand shape the scene embedding starts in U(-0.05, 0.05), so c · W_S is small
        // and S stays close to I at step 0, which lets the low-rank product pass the signal on.
        let names = (0..<35).map { "feature\($0)" } + ["scene"]
        let layout = FeatureLayout(names: names, widths: Array(repeating: 8, count: 36))
        let model = try makeModel(APG.Options(), layout: layout)
        var generator = RandomGenerator(seed: 3)
        let rows = 16
        let graph = Graph(training: false)
        let condition = graph.constant(Tensor(shape: [rows, 8],
                                              scalars: (0..<(rows * 8)).map { _ in generator.nextUniform(low: -0.05, high: 0.05) }))
        for (index, layer) in model.layers.enumerated() {
            let cores = layer.cores(condition: condition).value
            XCTAssertEqual(cores.shape, [rows, layer.rank, layer.rank])
            var largestDeviation: Float = 0
            for row in 0..<rows {
                for i in 0..<layer.rank {
                    for j in 0..<layer.rank {
                        let value = cores.scalars[(row * layer.rank + i) * layer.rank + j]
                        largestDeviation = max(largestDeviation, abs(value - (i == j ? 1 : 0)))
                    }
                }
            }
            XCTAssertLessThan(largestDeviation, 0.05, "layer \(index)")
            XCTAssertGreaterThan(largestDeviation, 0, "layer \(index): the generator weights must reach S")
        }
    }

    func testScenesGetDifferentCoresInGroupMode() throws {
        // Rows of one scene share the scene embedding, as they do when the trainer looks it up.
        let model = try makeModel(Self.variants[0].options)
        let batch = sceneBatch(rows: 9)
        let graph = Graph(training: false)
        let sceneColumns = smallLayout.offsets[4]..<(smallLayout.offsets[4] + 2)
        let condition = graph.constant(columns(batch.embeddings, sceneColumns))
        for (index, layer) in model.layers.enumerated() {
            let cores = layer.cores(condition: condition).value
            let size = layer.rank * layer.rank
            let coreOf = { (row: Int) in Array(cores.scalars[(row * size)..<((row + 1) * size)]) }
            for row in 0..<9 {
                for other in 0..<9 {
                    let difference = zip(coreOf(row), coreOf(other)).map { abs($0 - $1) }.max()!
                    if batch.scenes[row] == batch.scenes[other] {
                        XCTAssertLessThanOrEqual(difference, 1e-7, "layer \(index) rows \(row), \(other): same scene")
                    } else {
                        XCTAssertGreaterThan(difference, 1e-4, "layer \(index) rows \(row), \(other): different scenes")
                    }
                }
            }
        }
    }

    func testSceneReachesOutputThroughCores() throws {
        // With layer 0's weights on the scene block zeroed, the scene affects the output only
        // through the generated cores. Rows 0 and 1 differ only in scene and row 2 repeats row 0,
        // so a model that ignored the condition would give rows 0 and 1 the same output.
        let model = try makeModel(Self.variants[0].options)
        randomizeBiases(model, seed: 31)
        let sceneColumns = smallLayout.offsets[4]..<(smallLayout.offsets[4] + 2)
        zeroWeightRows(model, name: "apg0.V", rows: sceneColumns)
        let base = sceneBatch(rows: 3)
        var embeddings = base.embeddings
        let width = smallLayout.totalWidth
        for column in 0..<width where !sceneColumns.contains(column) {
            embeddings.scalars[width + column] = embeddings.scalars[column]
            embeddings.scalars[2 * width + column] = embeddings.scalars[column]
        }
        for column in sceneColumns { embeddings.scalars[2 * width + column] = embeddings.scalars[column] }
        let context = BatchContext(scenes: [0, 1, 0], rowSeeds: [1, 2, 3])
        let output = logits(model, embeddings: embeddings, context: context)
        XCTAssertGreaterThan(abs(output.scalars[0] - output.scalars[1]), 1e-5)
        XCTAssertEqual(output.scalars[0], output.scalars[2], accuracy: 1e-7)
    }

    func testPermutingRowsPermutesOutputs() throws {
        // Dropout masks follow the row seeds, so they move with their rows too.
        let permutation = [5, 2, 7, 0, 3, 6, 1, 4]
        for variant in Self.variants {
            var options = variant.options
            options.dropout = 0.3
            let model = try makeModel(options)
            let batch = ModelBatch(rows: 8, layout: smallLayout, tasks: 1, seed: 12)
            let width = smallLayout.totalWidth
            var permuted = batch.embeddings
            for (row, source) in permutation.enumerated() {
                for column in 0..<width {
                    permuted.scalars[row * width + column] = batch.embeddings.scalars[source * width + column]
                }
            }
            let context = BatchContext(scenes: permutation.map { batch.context.scenes[$0] },
                                       rowSeeds: permutation.map { batch.context.rowSeeds[$0] })
            let original = logits(model, embeddings: batch.embeddings, context: batch.context, training: true)
            let shuffled = logits(model, embeddings: permuted, context: context, training: true)
            for (row, source) in permutation.enumerated() {
                XCTAssertEqual(shuffled.scalars[row], original.scalars[source], accuracy: 1e-6,
                               "\(variant.label) row \(row) from \(source)")
            }
        }
    }

    // MARK: Options

    func testInvalidOptionsNameTheirKey() {
        var cases: [(key: String, options: APG.Options)] = []
        var options = APG.Options()
        options.hiddenUnits = []
        cases.append(("model.hiddenUnits", options))
        options = APG.Options()
        options.hiddenUnits = [8, 0]
        cases.append(("model.hiddenUnits", options))
        options = APG.Options()
        options.rank = -1
        cases.append(("model.rank", options))
        options = APG.Options()
        options.overParameterizationWidth = -2
        cases.append(("model.overParameterizationWidth", options))
        options = APG.Options()
        options.hiddenUnits = [8, 5]
        options.overParameterizationWidth = 2
        cases.append(("model.overParameterizationWidth", options))
        options = APG.Options()
        options.dropout = 1
        cases.append(("model.dropout", options))
        options = APG.Options()
        options.sceneFeature = "tab"
        cases.append(("model.sceneFeature", options))
        options = APG.Options()
        options.condition = .mix
        options.userFeature = "uid"
        cases.append(("model.userFeature", options))
        options = APG.Options()
        options.condition = .mix
        options.itemFeature = "item"
        cases.append(("model.itemFeature", options))

        for (key, options) in cases {
            XCTAssertThrowsError(try makeModel(options), key) { error in
                XCTAssertTrue("\(error)".hasPrefix(key + ":"), "\(key): \(error)")
            }
        }
    }

    func testUnusedFeaturesAreNotRequired() throws {
        // Group mode reads only the scene, and self mode no feature at all.
        var options = APG.Options()
        options.userFeature = "uid"
        options.itemFeature = "item"
        XCTAssertNoThrow(try makeModel(options))
        options.condition = .selfWise
        options.sceneFeature = "tab"
        XCTAssertNoThrow(try makeModel(options))
    }

    func testConfigOptionsAreRead() throws {
        let config = ModelConfig(name: "apg", options: [
            "hiddenUnits": .array([.number(8), .number(5)]), "rank": .number(3),
            "overParameterizationWidth": .number(4), "condition": .string("mix"), "adaptiveBias": .bool(true),
            "dropout": .number(0.25),
        ])
        let model = try config.make(ModelContext(layout: smallLayout, taskCount: 3, sceneCount: 3, seed: 1))
        XCTAssertEqual(model.taskCount, 1)
        let names = Set(model.parameters.map(\.name))
        XCTAssertEqual(names, Set(try makeModel(Self.variants[3].options).parameters.map(\.name)))
    }

    func testConfigErrorsNameTheirKey() {
        let context = ModelContext(layout: smallLayout, taskCount: 1, sceneCount: 3, seed: 1)
        let cases: [(key: String, config: ModelConfig)] = [
            ("model.condition", ModelConfig(name: "apg", options: ["condition": .string("scene")])),
            ("model.condition", ModelConfig(name: "apg", options: ["condition": .number(1)])),
            ("model.rank", ModelConfig(name: "apg", options: ["rank": .number(2.5)])),
            ("model.adaptiveBias", ModelConfig(name: "apg", options: ["adaptiveBias": .string("yes")])),
            ("model.rnak", ModelConfig(name: "apg", options: ["rnak": .number(4)])),
        ]
        for (key, config) in cases {
            XCTAssertThrowsError(try config.make(context), key) { error in
                XCTAssertTrue("\(error)".hasPrefix(key + ":"), "\(key): \(error)")
            }
        }
    }
}

// MARK: Helpers

/// Makes a batch whose scene block is one fixed vector per scene, as the trainer's lookup gives it.
private func sceneBatch(rows: Int) -> (embeddings: Tensor, scenes: [Int32]) {
    let batch = ModelBatch(rows: rows, layout: smallLayout, tasks: 1, seed: 17)
    let sceneVectors: [[Float]] = [[0.4, -0.3], [-0.2, 0.5], [0.1, 0.35]]
    var embeddings = batch.embeddings
    let offset = smallLayout.offsets[4]
    for row in 0..<rows {
        let scene = Int(batch.context.scenes[row])
        for column in 0..<2 {
            embeddings.scalars[row * smallLayout.totalWidth + offset + column] = sceneVectors[scene][column]
        }
    }
    return (embeddings, batch.context.scenes)
}

/// Returns the columns `range` of a `[B, N]` tensor.
private func columns(_ tensor: Tensor, _ range: Range<Int>) -> Tensor {
    let rows = tensor.shape[0]
    let width = tensor.shape[1]
    var values: [Float] = []
    for row in 0..<rows {
        for column in range { values.append(tensor.scalars[row * width + column]) }
    }
    return Tensor(shape: [rows, range.count], scalars: values)
}

/// Recomputes APG's logits `[B]` in Float64, one row at a time, from the parameters by name.
private func referenceLogits(_ model: APG, options: APG.Options, layout: FeatureLayout, embeddings: Tensor) -> [Double] {
    let parameters = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0) })
    func matrix(_ name: String) -> [[Double]] {
        let parameter = parameters[name]!
        let columns = parameter.shape.count == 2 ? parameter.shape[1] : parameter.shape[0]
        let rows = parameter.value.count / columns
        return (0..<rows).map { row in (0..<columns).map { Double(parameter.value.scalars[row * columns + $0]) } }
    }
    func vector(_ name: String) -> [Double] { matrix(name)[0] }
    func times(_ v: [Double], _ m: [[Double]]) -> [Double] {
        (0..<m[0].count).map { column in (0..<v.count).reduce(0.0) { $0 + v[$1] * m[$1][column] } }
    }
    func product(_ a: [[Double]], _ b: [[Double]]) -> [[Double]] { a.map { times($0, b) } }
    func factor(_ name: String) -> [[Double]] {
        parameters[name] != nil ? matrix(name) : product(matrix(name + "1"), matrix(name + "2"))
    }

    let conditionNames: [String]
    switch options.condition {
    case .group: conditionNames = [options.sceneFeature]
    case .mix: conditionNames = [options.sceneFeature, options.userFeature, options.itemFeature]
    case .selfWise: conditionNames = []
    }
    let rows = embeddings.shape[0]
    let width = layout.totalWidth
    return (0..<rows).map { row in
        let input = (0..<width).map { Double(embeddings.scalars[row * width + $0]) }
        var featureCondition: [Double] = []
        for name in conditionNames {
            let feature = layout.names.firstIndex(of: name)!
            featureCondition += input[layout.offsets[feature]..<(layout.offsets[feature] + layout.widths[feature])]
        }
        var hidden = input
        for (index, layer) in model.layers.enumerated() {
            let prefix = "apg\(index)"
            let condition = options.condition == .selfWise ? hidden : featureCondition
            let projected = times(hidden, factor(prefix + ".V"))
            let generated = zip(times(condition, matrix(prefix + ".core.weight")), vector(prefix + ".core.bias")).map(+)
            let rank = layer.rank
            let mixed = (0..<rank).map { j in (0..<rank).reduce(0.0) { $0 + projected[$1] * generated[$1 * rank + j] } }
            var bias = parameters[prefix + ".bias"].map { _ in vector(prefix + ".bias") } ?? []
            if options.adaptiveBias {
                bias = zip(times(condition, matrix(prefix + ".adaptiveBias.weight")),
                           vector(prefix + ".adaptiveBias.bias")).map(+)
            }
            hidden = zip(times(mixed, factor(prefix + ".U")), bias).map { max($0 + $1, 0) }
        }
        return times(hidden, matrix("head.weight"))[0] + vector("head.bias")[0]
    }
}
