import XCTest
@testable import TensorCore

/// Float64 reference of an operation: receives the inputs in row-major order and returns the
/// output in row-major order.
typealias Reference = (_ inputs: [[Double]]) -> [Double]

/// Returns a tensor of `shape` with uniform elements in [low, high) from a fixed seed.
func randomTensor(_ shape: [Int], seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor {
    var generator = RandomGenerator(seed: seed)
    let count = shape.reduce(1, *)
    return Tensor(shape: shape, scalars: (0..<count).map { _ in generator.nextUniform(low: low, high: high) })
}

/// Records a loss `Σ weights ⊙ output` and propagates `weights` into `output`, without going
/// through the arithmetic and reduction operations under test.
func weightedLoss(_ output: Variable, weights: [Float]) -> Variable {
    var total: Double = 0
    for (value, weight) in zip(output.value.scalars, weights) { total += Double(value) * Double(weight) }
    let value = Tensor(shape: [1], scalars: [Float(total)])
    return output.graph.record(value, inputs: [output]) { gradient in
        output.accumulate(Tensor(shape: output.shape, scalars: weights.map { $0 * gradient.scalars[0] }))
    }
}

/// Checks an operation's forward output against a float64 reference, and its gradient with
/// respect to every input against central finite differences of that reference.
///
/// The loss is `Σ w ⊙ output` with fixed random weights `w`. An element's relative error is
/// `|analytic − numeric| / max(|numeric|, 0.01·maxᵢ|numericᵢ|, 1e-6)`, which must stay below
/// `tolerance`; the comparison is written so that a NaN fails.
func checkGradients(_ name: String, inputs: [Tensor], tolerance: Double = 1e-3, forwardTolerance: Double = 1e-4,
                    training: Bool = true, file: StaticString = #filePath, line: UInt = #line,
                    build: (Graph, [Variable]) -> Variable, reference: Reference) {
    let graph = Graph(training: training)
    let variables = inputs.map { graph.input($0) }
    let output = build(graph, variables)
    let doubleInputs = inputs.map { $0.scalars.map(Double.init) }

    let expected = reference(doubleInputs)
    XCTAssertEqual(output.value.count, expected.count, "\(name): output element count", file: file, line: line)
    guard output.value.count == expected.count else { return }
    var worstForward = 0.0
    for (actual, want) in zip(output.value.scalars, expected) {
        let error = abs(Double(actual) - want) / max(1, abs(want))
        worstForward = error.isNaN ? .infinity : max(worstForward, error)
    }
    XCTAssertLessThan(worstForward, forwardTolerance, "\(name): largest forward error", file: file, line: line)

    var generator = RandomGenerator(seed: 99)
    let weights = (0..<output.value.count).map { _ in generator.nextUniform(low: -1, high: 1) }
    graph.backward(weightedLoss(output, weights: weights))

    func referenceLoss(_ values: [[Double]]) -> Double {
        zip(reference(values), weights).reduce(0) { $0 + $1.0 * Double($1.1) }
    }
    for (inputIndex, variable) in variables.enumerated() {
        var numeric = [Double](repeating: 0, count: inputs[inputIndex].count)
        var perturbed = doubleInputs
        for j in numeric.indices {
            let x = doubleInputs[inputIndex][j]
            let h = 1e-6 * max(1, abs(x))
            perturbed[inputIndex][j] = x + h
            let plus = referenceLoss(perturbed)
            perturbed[inputIndex][j] = x - h
            let minus = referenceLoss(perturbed)
            perturbed[inputIndex][j] = x
            numeric[j] = (plus - minus) / (2 * h)
        }
        let analytic = variable.gradient?.scalars.map(Double.init) ?? [Double](repeating: 0, count: numeric.count)
        let scale = max(0.01 * (numeric.map(abs).max() ?? 0), 1e-6)
        var worst = 0.0
        var worstIndex = -1
        for j in numeric.indices {
            let error = abs(analytic[j] - numeric[j]) / max(abs(numeric[j]), scale)
            if !(error <= worst) {
                worst = error.isNaN ? .infinity : error
                worstIndex = j
            }
        }
        let detail = worstIndex >= 0
            ? "element \(worstIndex): analytic \(analytic[worstIndex]), numeric \(numeric[worstIndex])" : ""
        XCTAssertLessThan(worst, tolerance, "\(name): input \(inputIndex) gradient, worst \(detail)",
                          file: file, line: line)
    }
}

/// Row-major strides of `shape`.
func rowMajorStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    for axis in stride(from: shape.count - 2, through: 0, by: -1) {
        strides[axis] = strides[axis + 1] * shape[axis + 1]
    }
    return strides
}

/// Float64 numpy broadcasting by explicit multi-indices, independent of the library's layout code.
func referenceBroadcast(_ a: [Double], _ aShape: [Int], _ b: [Double], _ bShape: [Int],
                        _ combine: (Double, Double) -> Double) -> (values: [Double], shape: [Int]) {
    let rank = max(aShape.count, bShape.count)
    let paddedA = [Int](repeating: 1, count: rank - aShape.count) + aShape
    let paddedB = [Int](repeating: 1, count: rank - bShape.count) + bShape
    let shape = zip(paddedA, paddedB).map { max($0, $1) }
    let (stridesA, stridesB, stridesOut) = (rowMajorStrides(paddedA), rowMajorStrides(paddedB), rowMajorStrides(shape))
    let count = shape.reduce(1, *)
    var values = [Double](repeating: 0, count: count)
    for flat in 0..<count {
        var offsetA = 0
        var offsetB = 0
        for axis in 0..<rank {
            let index = (flat / stridesOut[axis]) % shape[axis]
            offsetA += (paddedA[axis] == 1 ? 0 : index) * stridesA[axis]
            offsetB += (paddedB[axis] == 1 ? 0 : index) * stridesB[axis]
        }
        values[flat] = combine(a[offsetA], b[offsetB])
    }
    return (values, shape)
}

/// Float64 product of row-major matrices with optional transposes: `op(a) [m, k] · op(b) [k, n]`.
func referenceMatmul(_ a: [Double], _ b: [Double], m: Int, n: Int, k: Int,
                     transposeA: Bool = false, transposeB: Bool = false) -> [Double] {
    var c = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var total = 0.0
            for p in 0..<k {
                let left = transposeA ? a[p * m + i] : a[i * k + p]
                let right = transposeB ? b[j * k + p] : b[p * n + j]
                total += left * right
            }
            c[i * n + j] = total
        }
    }
    return c
}
