import Models
import TensorCore
import XCTest

/// A small feature layout for model tests: persona ids, two side features and the scene.
let smallLayout = FeatureLayout(names: ["user_id", "video_id", "author_id", "age", "scene"], widths: [3, 3, 2, 2, 2])

/// A fixed batch of model inputs: embeddings `[B, F·D]`, labels `[B, T]`, scenes and row seeds.
struct ModelBatch {
    let embeddings: Tensor
    let labels: Tensor
    let context: BatchContext

    init(rows: Int, layout: FeatureLayout, tasks: Int, seed: UInt64) {
        var generator = RandomGenerator(seed: seed)
        embeddings = Tensor(shape: [rows, layout.totalWidth],
                            scalars: (0..<(rows * layout.totalWidth)).map { _ in generator.nextUniform(low: -0.5, high: 0.5) })
        labels = Tensor(shape: [rows, tasks], scalars: (0..<(rows * tasks)).map { _ in generator.nextFloat() < 0.4 ? 1 : 0 })
        context = BatchContext(scenes: (0..<rows).map { Int32($0 % 3) },
                               rowSeeds: (0..<rows).map { UInt64($0) &* 7919 &+ seed })
    }
}

/// Moves every bias off zero, so no ReLU input sits exactly at its kink (a row whose previous
/// layer is all zero would otherwise have a pre-activation of exactly 0, where the one-sided
/// derivatives differ and a central difference is meaningless).
func randomizeBiases(_ model: RankingModel, seed: UInt64) {
    var generator = RandomGenerator(seed: seed)
    for parameter in model.parameters where parameter.name.hasSuffix(".bias") {
        parameter.value = Tensor(shape: parameter.shape,
                                 scalars: (0..<parameter.value.count).map { _ in generator.nextUniform(low: -0.3, high: 0.3) })
    }
}

/// Sets rows `rows` of the weight `[N, M]` named `name` to zero.
func zeroWeightRows(_ model: RankingModel, name: String, rows: Range<Int>) {
    let parameter = model.parameters.first { $0.name == name }!
    let width = parameter.shape[1]
    for row in rows {
        for column in 0..<width { parameter.value.scalars[row * width + column] = 0 }
    }
}

/// Runs forward and backward once and returns the loss; parameter gradients are left filled.
@discardableResult
func lossAndGradients(_ model: RankingModel, _ batch: ModelBatch, embeddingGradient: UnsafeMutablePointer<Tensor?>? = nil) -> Float {
    for parameter in model.parameters { parameter.zeroGradient() }
    let graph = Graph(training: true)
    let input = graph.input(batch.embeddings)
    let logits = model.forward(embeddings: input, batch: batch.context)
    let loss = binaryCrossEntropyWithLogits(logits, labels: batch.labels,
                                            taskWeights: Array(repeating: 1, count: model.taskCount),
                                            normalizer: Float(batch.context.rowCount))
    graph.backward(loss)
    embeddingGradient?.pointee = input.gradient
    return loss.value.scalars[0]
}

/// Loss only, for finite differences.
func lossValue(_ model: RankingModel, _ batch: ModelBatch, embeddings: Tensor? = nil) -> Double {
    let graph = Graph(training: true)
    let input = graph.constant(embeddings ?? batch.embeddings)
    let logits = model.forward(embeddings: input, batch: batch.context)
    let loss = binaryCrossEntropyWithLogits(logits, labels: batch.labels,
                                            taskWeights: Array(repeating: 1, count: model.taskCount),
                                            normalizer: Float(batch.context.rowCount))
    return Double(loss.value.scalars[0])
}

/// Checks every parameter's gradient along a direction v against a central difference:
/// `(L(θ + εv) − L(θ − εv)) / 2ε` against `⟨∇L, v⟩`. A whole-tensor direction moves the loss far
/// more than one element would, so the float32 difference stays well above rounding noise.
func checkDirectionalGradients(_ model: RankingModel, _ batch: ModelBatch, only names: Set<String>? = nil,
                               epsilon: Float = 3e-4, tolerance: Double = 1e-2,
                               file: StaticString = #filePath, line: UInt = #line) {
    lossAndGradients(model, batch)
    var generator = RandomGenerator(seed: 99)
    for parameter in model.parameters where names?.contains(parameter.name) ?? true {
        let analyticGradient = parameter.gradient
        // v follows the gradient's signs with random magnitudes: ⟨∇L, v⟩ = Σ|g_i|·u_i is as large
        // as it can be, far above the float32 rounding of the loss, and a gradient with a wrong
        // sign or size in any element still changes it.
        let direction = analyticGradient.scalars.map { ($0 < 0 ? -1 : 1) * generator.nextUniform(low: 0.5, high: 1) }
        let original = parameter.value
        var analytic = 0.0
        for i in 0..<direction.count { analytic += Double(analyticGradient.scalars[i]) * Double(direction[i]) }

        for i in 0..<direction.count { parameter.value.scalars[i] = original.scalars[i] + epsilon * direction[i] }
        let plus = lossValue(model, batch)
        for i in 0..<direction.count { parameter.value.scalars[i] = original.scalars[i] - epsilon * direction[i] }
        let minus = lossValue(model, batch)
        parameter.value = original

        let numeric = (plus - minus) / (2 * Double(epsilon))
        // The float32 loss is rounded to a few ulp, which the central difference divides by 2ε:
        // for a parameter of one element (a head bias) that is a few percent of its slope.
        let roundingFloor = 8 * Double(Float(max(abs(plus), abs(minus))).ulp) / (2 * Double(epsilon))
        let allowed = tolerance * max(abs(numeric), abs(analytic), 1e-4) + roundingFloor
        XCTAssertFalse(analytic.isNaN, "\(parameter.name): NaN gradient", file: file, line: line)
        XCTAssertLessThanOrEqual(abs(numeric - analytic), allowed,
                                 "\(parameter.name): analytic \(analytic) vs numeric \(numeric)", file: file, line: line)
    }
}
