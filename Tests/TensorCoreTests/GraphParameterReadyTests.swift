import XCTest
@testable import TensorCore

/// `Graph.backward(_:onParameterReady:)` reports every parameter the graph reads exactly once,
/// with the gradient it ends backward with, and from the earliest-recorded read backwards.
final class GraphParameterReadyTests: XCTestCase {
    struct Report {
        let name: String
        let gradient: [Float]
    }

    /// Builds `loss = Σ weights · (relu(x·W1)·W2·W1 + stopGradient(x·W3))`. W1 is read twice,
    /// once at each end of the graph; W3's only read gets no gradient; W4 is never read.
    func buildLoss(_ graph: Graph, _ parameters: [Parameter]) -> Variable {
        let x = graph.constant(randomTensor([2, 3], seed: 200))
        let firstW1 = graph.parameter(parameters[0])
        let w2 = graph.parameter(parameters[1])
        let secondW1 = graph.parameter(parameters[0])
        let w3 = graph.parameter(parameters[2])
        let hidden = matmul(matmul(relu(matmul(x, firstW1)), w2), secondW1)
        let detached = stopGradient(matmul(x, w3))
        var generator = RandomGenerator(seed: 201)
        let weights = (0..<6).map { _ in generator.nextUniform(low: -1, high: 1) }
        return weightedLoss(hidden + detached, weights: weights)
    }

    func makeParameters() -> [Parameter] {
        (1...4).map { Parameter(name: "w\($0)", value: randomTensor([3, 3], seed: 210 + UInt64($0))) }
    }

    func testEachReadParameterReportedOnce() {
        let parameters = makeParameters()
        let graph = Graph()
        var reports: [Report] = []
        graph.backward(buildLoss(graph, parameters)) { parameter in
            reports.append(Report(name: parameter.name, gradient: parameter.gradient.scalars))
        }
        XCTAssertEqual(reports.map(\.name), ["w3", "w2", "w1"])
    }

    func testReportedGradientIsFinal() {
        let parameters = makeParameters()
        let graph = Graph()
        var reports: [Report] = []
        graph.backward(buildLoss(graph, parameters)) { parameter in
            reports.append(Report(name: parameter.name, gradient: parameter.gradient.scalars))
        }
        for report in reports {
            let parameter = parameters.first { $0.name == report.name }!
            XCTAssertEqual(report.gradient, parameter.gradient.scalars, "gradient of \(report.name) changed after its report")
        }
    }

    func testGradientsMatchPlainBackward() {
        let withHook = makeParameters()
        let hookGraph = Graph()
        hookGraph.backward(buildLoss(hookGraph, withHook)) { _ in }
        let plain = makeParameters()
        let plainGraph = Graph()
        plainGraph.backward(buildLoss(plainGraph, plain))
        for (hooked, reference) in zip(withHook, plain) {
            XCTAssertEqual(hooked.gradient.scalars, reference.gradient.scalars, "gradient of \(hooked.name)")
        }
    }

    func testTwiceReadParameterHasBothContributions() {
        // The report of w1 comes after both of its reads were visited, so its gradient is not the
        // contribution of the later read alone: compare it with a finite-difference slope.
        let parameters = makeParameters()
        let graph = Graph()
        var reportedW1: [Float] = []
        graph.backward(buildLoss(graph, parameters)) { parameter in
            if parameter.name == "w1" { reportedW1 = parameter.gradient.scalars }
        }
        let base = parameters[0].value.scalars
        for element in [0, 4, 8] {
            func loss(shift: Float) -> Double {
                let shifted = makeParameters()
                shifted[0].value.scalars = base
                shifted[0].value.scalars[element] += shift
                return Double(buildLoss(Graph(), shifted).value.scalars[0])
            }
            let step: Float = 1e-2
            let numeric = (loss(shift: step) - loss(shift: -step)) / Double(2 * step)
            XCTAssertEqual(Double(reportedW1[element]), numeric, accuracy: 2e-2 * max(1, abs(numeric)), "element \(element)")
        }
    }

    func testLossWithoutGradientReportsReads() {
        let parameter = Parameter(name: "w", value: Tensor(repeating: 2, shape: [2]))
        let graph = Graph()
        let loss = sum(stopGradient(graph.parameter(parameter)))
        var names: [String] = []
        graph.backward(loss) { names.append($0.name) }
        XCTAssertEqual(names, ["w"])
        XCTAssertEqual(parameter.gradient.scalars, [0, 0])
    }

    func testGraphWithoutParametersReportsNothing() {
        let graph = Graph()
        let input = graph.input(Tensor(repeating: 3, shape: [2]))
        var count = 0
        graph.backward(sum(input * input)) { _ in count += 1 }
        XCTAssertEqual(count, 0)
        XCTAssertEqual(input.gradient?.scalars, [6, 6])
    }
}
