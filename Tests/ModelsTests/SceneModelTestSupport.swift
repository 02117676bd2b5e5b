import Foundation
import Models
import TensorCore
import XCTest

/// Test inputs with chosen scenes: embeddings `[B, F·D]`, labels `[B, T]` and the batch context.
struct SceneBatch {
    var embeddings: Tensor
    var labels: Tensor
    var context: BatchContext

    init(scenes: [Int32], layout: FeatureLayout, tasks: Int, seed: UInt64) {
        var generator = RandomGenerator(seed: seed)
        let rows = scenes.count
        embeddings = Tensor(shape: [rows, layout.totalWidth],
                            scalars: (0..<(rows * layout.totalWidth)).map { _ in generator.nextUniform(low: -0.5, high: 0.5) })
        labels = Tensor(shape: [rows, tasks], scalars: (0..<(rows * tasks)).map { _ in generator.nextFloat() < 0.4 ? 1 : 0 })
        context = BatchContext(scenes: scenes, rowSeeds: (0..<rows).map { UInt64($0) &* 7919 &+ seed })
    }

    init(embeddings: Tensor, labels: Tensor, context: BatchContext) {
        self.embeddings = embeddings
        self.labels = labels
        self.context = context
    }

    /// Returns the rows in the order `permutation` (position i takes row `permutation[i]`),
    /// with their scenes, labels and row seeds.
    func permuted(_ permutation: [Int]) -> SceneBatch {
        SceneBatch(embeddings: takeRows(embeddings, permutation), labels: takeRows(labels, permutation),
                   context: BatchContext(scenes: permutation.map { context.scenes[$0] },
                                         rowSeeds: permutation.map { context.rowSeeds[$0] }))
    }
}

/// Returns the rows `rows` of `tensor` `[R, N]`, in that order.
func takeRows(_ tensor: Tensor, _ rows: [Int]) -> Tensor {
    let width = tensor.shape[1]
    var scalars: [Float] = []
    for row in rows {
        scalars += tensor.scalars[(row * width)..<((row + 1) * width)]
    }
    return Tensor(shape: [rows.count, width], scalars: scalars)
}

/// Runs the forward pass and returns the logits `[B, T]`.
func forwardLogits(_ model: RankingModel, _ batch: SceneBatch, training: Bool) -> Tensor {
    let graph = Graph(training: training)
    return model.forward(embeddings: graph.constant(batch.embeddings), batch: batch.context).value
}

/// Runs forward and backward once on `batch` and leaves the parameter gradients filled.
func fillGradients(_ model: RankingModel, _ batch: SceneBatch) {
    for parameter in model.parameters { parameter.zeroGradient() }
    let graph = Graph(training: true)
    let logits = model.forward(embeddings: graph.constant(batch.embeddings), batch: batch.context)
    let loss = binaryCrossEntropyWithLogits(logits, labels: batch.labels,
                                            taskWeights: Array(repeating: 1, count: model.taskCount),
                                            normalizer: Float(batch.context.rowCount))
    graph.backward(loss)
}

/// Returns the parameters of `model` keyed by name.
func parametersByName(_ model: RankingModel) -> [String: Parameter] {
    Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0) })
}

/// Fills the parameter named `name` with uniform values in [low, high).
func randomizeParameter(_ model: RankingModel, name: String, low: Float, high: Float, seed: UInt64) {
    let parameter = parametersByName(model)[name]!
    var generator = RandomGenerator(seed: seed)
    parameter.value = Tensor(shape: parameter.shape,
                             scalars: (0..<parameter.value.count).map { _ in generator.nextUniform(low: low, high: high) })
}

/// Checks the gradient of the loss with respect to the embeddings along one direction against a
/// central difference, as `checkDirectionalGradients` does for parameters.
func checkEmbeddingGradient(_ model: RankingModel, _ batch: ModelBatch, file: StaticString = #filePath, line: UInt = #line) {
    var gradient: Tensor?
    lossAndGradients(model, batch, embeddingGradient: &gradient)
    guard let analyticGradient = gradient else {
        XCTFail("no embedding gradient", file: file, line: line)
        return
    }
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
    XCTAssertEqual(analytic, numeric, accuracy: 1e-2 * max(abs(numeric), 1e-3), file: file, line: line)
}

/// Checks that permuting the batch rows permutes the output rows the same way.
func checkPermutationEquivariance(_ model: RankingModel, _ batch: SceneBatch, permutation: [Int], training: Bool,
                                  accuracy: Float, file: StaticString = #filePath, line: UInt = #line) {
    let original = forwardLogits(model, batch, training: training)
    let permuted = forwardLogits(model, batch.permuted(permutation), training: training)
    let tasks = model.taskCount
    for (position, source) in permutation.enumerated() {
        for task in 0..<tasks {
            XCTAssertEqual(permuted.scalars[position * tasks + task], original.scalars[source * tasks + task],
                           accuracy: accuracy, "position \(position) (row \(source)) task \(task)", file: file, line: line)
        }
    }
}

/// Checks that each row of a batch mixing scenes gets the output it gets when run alone.
func checkRowsMatchRunAlone(_ model: RankingModel, _ batch: SceneBatch, training: Bool, accuracy: Float,
                            file: StaticString = #filePath, line: UInt = #line) {
    let together = forwardLogits(model, batch, training: training)
    let tasks = model.taskCount
    for row in 0..<batch.context.rowCount {
        let alone = forwardLogits(model, batch.permuted([row]), training: training)
        for task in 0..<tasks {
            XCTAssertEqual(alone.scalars[task], together.scalars[row * tasks + task], accuracy: accuracy,
                           "row \(row) (scene \(batch.context.scenes[row])) task \(task)", file: file, line: line)
        }
    }
}

/// Builds a model through the registry from the JSON text of a `model` section.
func makeRegisteredModel(json: String, layout: FeatureLayout, taskCount: Int, sceneCount: Int) throws -> RankingModel {
    let config = try JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8))
    return try config.make(ModelContext(layout: layout, taskCount: taskCount, sceneCount: sceneCount, seed: 1))
}

func logistic(_ x: Double) -> Double {
    1 / (1 + exp(-x))
}
