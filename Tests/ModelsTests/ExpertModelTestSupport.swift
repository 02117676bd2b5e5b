import Models
import TensorCore
import XCTest

// Float64 reference layers and shared checks for the expert models (MMoE, PLE, shared bottom).
// The references loop over plain arrays, independent of the tensor kernels under test.

/// Rows of a matrix in float64: `matrix[b][n]`.
typealias Rows = [[Double]]

extension Array where Element == [Double] {
    /// Copies the rows of a `[B, N]` tensor into float64.
    init(rowsOf tensor: Tensor) {
        let width = tensor.shape[1]
        self = (0..<tensor.shape[0]).map { row in
            (0..<width).map { Double(tensor.scalars[row * width + $0]) }
        }
    }
}

/// A float64 forward pass over copies of a model's parameters, looked up by name, so a test can
/// move a parameter by a step far below float32 resolution. With row seeds it applies the same
/// dropout masks as the model in training; without, it evaluates without dropout.
struct Reference {
    var values: [String: [Double]]
    var rowSeeds: [UInt64]?

    init(_ model: RankingModel, rowSeeds: [UInt64]? = nil) {
        values = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.value.scalars.map(Double.init)) })
        self.rowSeeds = rowSeeds
    }

    /// `x · W + b`, with ReLU when `relu` is true.
    func dense(_ x: Rows, _ layer: Dense, relu: Bool) -> Rows {
        let inputWidth = layer.inputWidth
        let outputWidth = layer.outputWidth
        let weight = values[layer.weight.name]!
        let bias = values[layer.bias.name]!
        return x.map { row in
            precondition(row.count == inputWidth, "reference input width \(row.count), layer expects \(inputWidth)")
            return (0..<outputWidth).map { column in
                var total = bias[column]
                for k in 0..<inputWidth { total += row[k] * weight[k * outputWidth + column] }
                return relu ? max(total, 0) : total
            }
        }
    }

    /// Applies a ReLU stack, with the model's dropout masks when row seeds are set.
    func stack(_ x: Rows, _ stack: ReLUStack) -> Rows {
        var hidden = x
        for (layer, layerID) in zip(stack.layers, stack.dropoutLayerIDs) {
            hidden = dense(hidden, layer, relu: true)
            if let rowSeeds, stack.dropout > 0 {
                let mask = dropoutMask(rows: hidden.count, width: layer.outputWidth, rate: stack.dropout,
                                       rowSeeds: rowSeeds, layer: layerID)
                hidden = zip(hidden, mask).map { row, keep in zip(row, keep).map { $0 * $1 } }
            }
        }
        return hidden
    }

    /// Logits `[B][T]` of the towers and heads on the task inputs.
    func towers(_ inputs: [Rows], _ towers: TaskTowers) -> Rows {
        let perTask = zip(inputs, zip(towers.towers, towers.heads)).map { input, layers in
            dense(stack(input, layers.0), layers.1, relu: false)
        }
        return (0..<inputs[0].count).map { row in perTask.map { $0[row][0] } }
    }

    /// Computes the model's loss in float64: `Σ_{b,t} (max(z, 0) − z·y + log(1 + exp(−|z|))) / B`.
    static func loss(_ logits: Rows, labels: Tensor) -> Double {
        let tasks = logits[0].count
        var total = 0.0
        for (row, values) in logits.enumerated() {
            for (task, z) in values.enumerated() {
                let y = Double(labels.scalars[row * tasks + task])
                total += max(z, 0) - z * y + log1p(exp(-abs(z)))
            }
        }
        return total / Double(logits.count)
    }
}

/// Reads the scaled keep mask that `rowSeededDropout` draws for one layer by applying it to ones.
func dropoutMask(rows: Int, width: Int, rate: Float, rowSeeds: [UInt64], layer: UInt64) -> Rows {
    let graph = Graph(training: true)
    let ones = graph.constant(Tensor(repeating: 1, shape: [rows, width]))
    return Rows(rowsOf: rowSeededDropout(ones, rate: rate, rowSeeds: rowSeeds, layer: layer).value)
}

func referenceSoftmax(_ x: Rows) -> Rows {
    x.map { row in
        let maximum = row.max()!
        let exponentials = row.map { exp($0 - maximum) }
        let total = exponentials.reduce(0, +)
        return exponentials.map { $0 / total }
    }
}

/// `y_b = Σ_e g_be · x_e,b`.
func referenceMix(_ experts: [Rows], gates: Rows) -> Rows {
    gates.enumerated().map { row, weights in
        (0..<experts[0][row].count).map { column in
            zip(experts, weights).reduce(0.0) { $0 + $1.0[row][column] * $1.1 }
        }
    }
}

/// Checks every parameter's gradient, from the model's float32 backward in training mode, along
/// a direction v against a central difference of the float64 reference loss with step 1e-6.
///
/// The shared float32 check needs steps near 1e-3 to rise above the rounding of the loss, and
/// steps that large move some of the many small ReLU inputs of an expert model across zero, where
/// the loss has a kink. A float64 step of 1e-6 crosses none in practice.
func checkGradientsAgainstReference(_ model: RankingModel, _ batch: ModelBatch,
                                    referenceLogits: (Reference, Rows) -> Rows,
                                    tolerance: Double = 1e-3,
                                    file: StaticString = #filePath, line: UInt = #line) {
    lossAndGradients(model, batch)
    let x = Rows(rowsOf: batch.embeddings)
    let base = Reference(model, rowSeeds: batch.context.rowSeeds)
    let epsilon = 1e-6
    var generator = RandomGenerator(seed: 99)
    for parameter in model.parameters {
        let gradient = parameter.gradient.scalars
        let direction = gradient.map { Double(($0 < 0 ? -1 : 1) * generator.nextUniform(low: 0.5, high: 1)) }
        let analytic = zip(gradient, direction).reduce(0.0) { $0 + Double($1.0) * $1.1 }

        var plus = base
        var minus = base
        let original = base.values[parameter.name]!
        plus.values[parameter.name] = zip(original, direction).map { $0 + epsilon * $1 }
        minus.values[parameter.name] = zip(original, direction).map { $0 - epsilon * $1 }
        let numeric = (Reference.loss(referenceLogits(plus, x), labels: batch.labels)
            - Reference.loss(referenceLogits(minus, x), labels: batch.labels)) / (2 * epsilon)

        let error = abs(numeric - analytic) / max(abs(numeric), abs(analytic), 1e-6)
        XCTAssertLessThan(error, tolerance, "\(parameter.name): analytic \(analytic) vs numeric \(numeric)",
                          file: file, line: line)
    }
}

/// Runs the model forward and returns the logits `[B, T]`.
func modelLogits(_ model: RankingModel, embeddings: Tensor, context: BatchContext, training: Bool = false) -> Tensor {
    let graph = Graph(training: training)
    return model.forward(embeddings: graph.constant(embeddings), batch: context).value
}

/// Asserts that the model's logits match a float64 reference within a relative 1e-4; in training
/// mode the reference must apply the same dropout masks.
func assertLogits(_ model: RankingModel, _ batch: ModelBatch, training: Bool = false, match reference: Rows,
                  file: StaticString = #filePath, line: UInt = #line) {
    let logits = modelLogits(model, embeddings: batch.embeddings, context: batch.context, training: training)
    let tasks = model.taskCount
    XCTAssertEqual(logits.shape, [reference.count, tasks], file: file, line: line)
    for row in 0..<reference.count {
        for task in 0..<tasks {
            let expected = reference[row][task]
            XCTAssertEqual(Double(logits.scalars[row * tasks + task]), expected, accuracy: 1e-4 * max(1, abs(expected)),
                           "row \(row) task \(task)", file: file, line: line)
        }
    }
}

/// Sets every parameter whose name starts with `prefix` to zero and returns how many there were.
@discardableResult
func zeroParameters(_ model: RankingModel, prefix: String) -> Int {
    let matching = model.parameters.filter { $0.name.hasPrefix(prefix) }
    for parameter in matching { parameter.value = Tensor(zeros: parameter.shape) }
    return matching.count
}

/// Asserts that head t's bias gradient is `Σ_b (σ(z_bt) − y_bt) / B`, which ties logit column t,
/// tower t and label column t together.
func assertHeadsTrainAgainstOwnLabels(_ model: RankingModel, _ batch: ModelBatch,
                                      file: StaticString = #filePath, line: UInt = #line) throws {
    let logits = modelLogits(model, embeddings: batch.embeddings, context: batch.context)
    lossAndGradients(model, batch)
    let tasks = model.taskCount
    let rowCount = batch.context.rowCount
    let parameters = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0) })
    for task in 0..<tasks {
        var expected = 0.0
        for row in 0..<rowCount {
            let z = Double(logits.scalars[row * tasks + task])
            expected += (1 / (1 + exp(-z)) - Double(batch.labels.scalars[row * tasks + task])) / Double(rowCount)
        }
        let head = try XCTUnwrap(parameters["tower\(task).head.bias"], file: file, line: line)
        XCTAssertEqual(Double(head.gradient.scalars[0]), expected, accuracy: 1e-5, "task \(task)", file: file, line: line)
    }
}

/// Asserts that reordering the rows of a batch (embeddings, scenes and row seeds together)
/// reorders the logits the same way, in training mode so dropout masks must follow their rows.
func assertBatchPermutationPermutesOutputs(_ model: RankingModel, _ batch: ModelBatch,
                                           file: StaticString = #filePath, line: UInt = #line) {
    let rowCount = batch.context.rowCount
    let width = batch.embeddings.shape[1]
    var generator = RandomGenerator(seed: 31)
    var permutation = Array(0..<rowCount)
    for i in stride(from: rowCount - 1, to: 0, by: -1) {
        permutation.swapAt(i, Int(generator.nextFloat() * Float(i + 1)) % (i + 1))
    }
    XCTAssertNotEqual(permutation, Array(0..<rowCount), "the permutation must move rows", file: file, line: line)

    // Row b of the permuted batch is row permutation[b] of the original.
    var scalars: [Float] = []
    for source in permutation { scalars += batch.embeddings.scalars[(source * width)..<((source + 1) * width)] }
    let permutedContext = BatchContext(scenes: permutation.map { batch.context.scenes[$0] },
                                       rowSeeds: permutation.map { batch.context.rowSeeds[$0] })
    let original = modelLogits(model, embeddings: batch.embeddings, context: batch.context, training: true)
    let permuted = modelLogits(model, embeddings: Tensor(shape: [rowCount, width], scalars: scalars),
                               context: permutedContext, training: true)

    let tasks = model.taskCount
    for (row, source) in permutation.enumerated() {
        for task in 0..<tasks {
            let expected = original.scalars[source * tasks + task]
            XCTAssertEqual(permuted.scalars[row * tasks + task], expected, accuracy: 1e-5 * max(1, abs(expected)),
                           "permuted row \(row) (original row \(source)) task \(task)", file: file, line: line)
        }
    }
}

/// Names of the parameters whose gradient is exactly zero after one batch.
func parametersWithoutGradient(_ model: RankingModel, _ batch: ModelBatch) -> [String] {
    lossAndGradients(model, batch)
    return model.parameters.filter { $0.gradient.scalars.allSatisfy { $0 == 0 } }.map(\.name)
}

/// The KuaiRand input: 36 features of embedding width 8.
let kuaiRandLayout = FeatureLayout(names: (0..<36).map { "feature\($0)" }, widths: Array(repeating: 8, count: 36))

/// Asserts that each config, holding one invalid option, is rejected by the registry with a
/// message that starts with `model.<key>`.
func assertOptionErrors(_ configs: [ModelConfig], file: StaticString = #filePath, line: UInt = #line) {
    for config in configs {
        let key = config.options.keys.sorted().joined(separator: ", ")
        let context = ModelContext(layout: smallLayout, taskCount: 2, sceneCount: 3, seed: 1)
        XCTAssertThrowsError(try config.make(context), "\(key) = \(config.options) was accepted",
                             file: file, line: line) { error in
            XCTAssertTrue("\(error)".hasPrefix("model.\(key): "), "\(error)", file: file, line: line)
        }
    }
}
