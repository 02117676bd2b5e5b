import XCTest
@testable import TensorCore

final class OptimizersTests: XCTestCase {
    func makeParameter(_ values: [Float], gradient: [Float], name: String = "w") -> Parameter {
        let parameter = Parameter(name: name, value: Tensor(shape: [values.count], scalars: values))
        parameter.gradient = Tensor(shape: [gradient.count], scalars: gradient)
        return parameter
    }

    func assertClose(_ actual: Tensor, _ expected: [Double], accuracy: Double = 1e-6,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, file: file, line: line)
        for (a, e) in zip(actual.scalars, expected) {
            XCTAssertEqual(Double(a), e, accuracy: accuracy, file: file, line: line)
        }
    }

    func testSGDWithMomentumAndDecay() {
        let parameter = makeParameter([1, -2], gradient: [0.5, 0.25])
        let optimizer = SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
        optimizer.update([parameter])
        // g' = g + 0.01·w = (0.51, 0.23); v = g'; w = w − 0.1·v.
        assertClose(parameter.value, [1 - 0.051, -2 - 0.023])
        optimizer.update([parameter])
        // g' = (0.5 + 0.00949, 0.25 − 0.02023); v = 0.9·v + g'.
        let v0 = 0.9 * 0.51 + 0.5 + 0.01 * 0.949
        let v1 = 0.9 * 0.23 + 0.25 + 0.01 * -2.023
        assertClose(parameter.value, [0.949 - 0.1 * v0, -2.023 - 0.1 * v1])
    }

    func testAdamBiasCorrection() {
        let parameter = makeParameter([1, 2], gradient: [0.5, -1])
        let optimizer = Adam(learningRate: 0.01)
        optimizer.update([parameter])
        // Step 1: m = 0.1·g, v = 0.001·g², lr_t = 0.01·sqrt(0.001)/0.1, so the step is
        // lr_t·m/(sqrt(v)+ε) ≈ 0.01·sign(g).
        let rate1 = 0.01 * (0.001).squareRoot() / 0.1
        func step(_ m: Double, _ v: Double, _ rate: Double) -> Double { rate * m / (v.squareRoot() + 1e-7) }
        assertClose(parameter.value, [1 - step(0.05, 0.00025, rate1), 2 - step(-0.1, 0.001, rate1)])

        parameter.gradient = Tensor(shape: [2], scalars: [1, 1])
        let before = parameter.value.scalars.map(Double.init)
        optimizer.update([parameter])
        let rate2 = 0.01 * (1 - 0.999 * 0.999).squareRoot() / (1 - 0.9 * 0.9)
        let m = [0.9 * 0.05 + 0.1, 0.9 * -0.1 + 0.1]
        let v = [0.999 * 0.00025 + 0.001, 0.999 * 0.001 + 0.001]
        assertClose(parameter.value, [before[0] - step(m[0], v[0], rate2), before[1] - step(m[1], v[1], rate2)])
        XCTAssertEqual(optimizer.stepCount, 2)
        assertClose(optimizer.state["w"]![0], m)
        // 1 − β₂ rounds to 0.00099998713 in Float, so v carries a relative error near 1.3e-5.
        assertClose(optimizer.state["w"]![1], v, accuracy: 1e-7)
    }

    func testAdagrad() {
        let parameter = makeParameter([1, 2], gradient: [0.5, -1])
        let optimizer = Adagrad(learningRate: 0.1)
        optimizer.update([parameter])
        // a = 0.1 + g²; w −= 0.1·g/(sqrt(a) + 1e-7).
        assertClose(parameter.value, [1 - 0.05 / ((0.35).squareRoot() + 1e-7), 2 + 0.1 / ((1.1).squareRoot() + 1e-7)])
        optimizer.update([parameter])
        assertClose(optimizer.state["w"]![0], [0.6, 2.1])
    }

    func testStateKeyedByName() {
        let first = makeParameter([1], gradient: [1], name: "a")
        let second = makeParameter([1, 2, 3], gradient: [1, 1, 1], name: "b")
        let optimizer = Adam(learningRate: 0.1)
        optimizer.update([first, second])
        XCTAssertEqual(Set(optimizer.state.keys), ["a", "b"])
        XCTAssertEqual(optimizer.state["b"]!.map(\.shape), [[3], [3]])
    }

    func testRowWiseAdagrad() {
        var weights: [Float] = [1, 1, 2, 2, 3, 3]
        var state: [Float] = [0.1, 0.1, 0.1]
        let gradients: [Float] = [1, 3]
        let optimizer = RowWiseAdagrad(learningRate: 0.5)
        optimizer.beginStep()
        weights.withUnsafeMutableBufferPointer { w in
            state.withUnsafeMutableBufferPointer { s in
                gradients.withUnsafeBufferPointer { g in
                    applySparse(optimizer: optimizer, weights: w, state: s, rows: [1], gradients: g, dimension: 2)
                }
            }
        }
        // a = 0.1 + (1 + 9)/2 = 5.1; w −= 0.5·g/(sqrt(5.1) + 1e-7).
        let step = 0.5 / ((5.1).squareRoot() + 1e-7)
        XCTAssertEqual(state, [0.1, 5.1, 0.1])
        XCTAssertEqual(weights[0], 1)
        XCTAssertEqual(weights[1], 1)
        XCTAssertEqual(Double(weights[2]), 2 - step, accuracy: 1e-6)
        XCTAssertEqual(Double(weights[3]), 2 - 3 * step, accuracy: 1e-6)
        XCTAssertEqual(weights[4], 3)
        XCTAssertEqual(weights[5], 3)
    }

    func testLazyAdamLeavesOtherRows() {
        var weights: [Float] = [1, 1, 2, 2, 3, 3]
        var state = [Float](repeating: 0, count: 12)
        let optimizer = LazyAdam(learningRate: 0.01)
        XCTAssertEqual(optimizer.stateWidth(dimension: 2), 4)
        func apply(rows: [Int32], gradients: [Float]) {
            optimizer.beginStep()
            weights.withUnsafeMutableBufferPointer { w in
                state.withUnsafeMutableBufferPointer { s in
                    gradients.withUnsafeBufferPointer { g in
                        applySparse(optimizer: optimizer, weights: w, state: s, rows: rows, gradients: g, dimension: 2)
                    }
                }
            }
        }
        apply(rows: [2], gradients: [0.5, -1])
        apply(rows: [0], gradients: [1, 1])

        // Row 0 is first updated at step 2, so its correction uses t = 2 with fresh moments.
        let rate2 = 0.01 * (1 - 0.999 * 0.999).squareRoot() / (1 - 0.9 * 0.9)
        let step0 = rate2 * 0.1 / ((0.001).squareRoot() + 1e-7)
        XCTAssertEqual(Double(weights[0]), 1 - step0, accuracy: 1e-6)
        XCTAssertEqual(Double(weights[1]), 1 - step0, accuracy: 1e-6)
        XCTAssertEqual(weights[2], 2)
        XCTAssertEqual(weights[3], 2)
        XCTAssertEqual(Array(state[4..<8]), [0, 0, 0, 0])

        // Row 2 was updated at step 1 only.
        let rate1 = 0.01 * (0.001).squareRoot() / 0.1
        XCTAssertEqual(Double(weights[4]), 3 - rate1 * 0.05 / ((0.00025).squareRoot() + 1e-7), accuracy: 1e-6)
        XCTAssertEqual(Double(weights[5]), 3 + rate1 * 0.1 / ((0.001).squareRoot() + 1e-7), accuracy: 1e-6)
        XCTAssertEqual(Double(state[8]), 0.05, accuracy: 1e-7)
        XCTAssertEqual(Double(state[10]), 0.00025, accuracy: 1e-8)
    }

    /// Runs three steps of `make()` through `update` plus `zeroGradient` and through
    /// `updateAndZeroGradients` on parameters of several lengths (blocks of 1024 and a remainder),
    /// and asserts identical bits in values and state and zero gradients.
    func assertFusedZeroingMatches(_ make: () -> ElementwiseOptimizer, label: String) {
        let counts = [1, 7, 1024, 2500]
        func makeParameters() -> [Parameter] {
            counts.enumerated().map { index, count in
                Parameter(name: "p\(index)", value: Tensor(shape: [count], scalars: (0..<count).map { Float($0 % 13) * 0.1 - 0.6 }))
            }
        }
        let plain = makeParameters()
        let fused = makeParameters()
        let plainOptimizer = make()
        let fusedOptimizer = make()
        for step in 0..<3 {
            for (a, b) in zip(plain, fused) {
                let gradient = (0..<a.value.count).map { Float(($0 * 31 + step * 17) % 41) * 0.1 - 2 }
                a.gradient = Tensor(shape: a.shape, scalars: gradient)
                b.gradient = Tensor(shape: b.shape, scalars: gradient)
            }
            plainOptimizer.update(plain)
            for parameter in plain { parameter.zeroGradient() }
            fusedOptimizer.updateAndZeroGradients(fused)
            for (a, b) in zip(plain, fused) {
                XCTAssertEqual(a.value.scalars.map(\.bitPattern), b.value.scalars.map(\.bitPattern), "\(label) step \(step) \(a.name)")
                XCTAssertEqual(b.gradient.scalars, [Float](repeating: 0, count: b.value.count), "\(label) step \(step) \(b.name)")
                XCTAssertEqual(plainOptimizer.state[a.name], fusedOptimizer.state[b.name], "\(label) step \(step) \(a.name)")
            }
        }
    }

    func testFusedZeroingMatchesUpdate() {
        assertFusedZeroingMatches({ Adam(learningRate: 0.01) }, label: "Adam")
        assertFusedZeroingMatches({ Adam(learningRate: 0.01, weightDecay: 0.05) }, label: "Adam with decay")
        assertFusedZeroingMatches({ SGD(learningRate: 0.1) }, label: "SGD")
        assertFusedZeroingMatches({ SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01) }, label: "SGD momentum")
        assertFusedZeroingMatches({ Adagrad(learningRate: 0.1, weightDecay: 0.01) }, label: "Adagrad")
    }

    /// Adam with weight decay on 2500 elements, bit for bit against a plain Float loop of the
    /// formula in the same operation order.
    func testAdamMatchesScalarReference() {
        let count = 2500
        let (beta1, beta2, epsilon, decay): (Float, Float, Float, Float) = (0.9, 0.999, 1e-7, 0.02)
        var weights = (0..<count).map { Float($0 % 17) * 0.05 - 0.4 }
        var m = [Float](repeating: 0, count: count)
        var v = [Float](repeating: 0, count: count)
        let parameter = Parameter(name: "w", value: Tensor(shape: [count], scalars: weights))
        let optimizer = Adam(learningRate: 0.003, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: decay)
        for step in 1...3 {
            let gradient = (0..<count).map { Float(($0 * 7 + step * 3) % 23) * 0.01 - 0.11 }
            parameter.gradient = Tensor(shape: [count], scalars: gradient)
            optimizer.updateAndZeroGradients([parameter])
            let rate = adamCorrectedRate(learningRate: 0.003, beta1: beta1, beta2: beta2, step: step)
            for i in 0..<count {
                let g = gradient[i] + decay * weights[i]
                m[i] = beta1 * m[i] + (1 - beta1) * g
                v[i] = beta2 * v[i] + (1 - beta2) * g * g
                weights[i] -= rate * m[i] / (v[i].squareRoot() + epsilon)
            }
            let mismatch = (0..<count).first { parameter.value.scalars[$0].bitPattern != weights[$0].bitPattern }
            XCTAssertNil(mismatch, "step \(step) first differing element \(String(describing: mismatch))")
            XCTAssertEqual(optimizer.state["w"]![0].scalars, m, "step \(step)")
            XCTAssertEqual(optimizer.state["w"]![1].scalars, v, "step \(step)")
        }
    }
}
