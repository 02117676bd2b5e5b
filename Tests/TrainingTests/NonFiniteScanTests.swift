import Models
import TensorCore
@testable import Training
import XCTest

/// The scan names the first NaN or Inf of a step, losses first, then dense gradients in
/// parameter order, then the embedding feature of the input gradient's column.
final class NonFiniteScanTests: XCTestCase {
    let layout = FeatureLayout(names: ["user", "item", "scene"], widths: [2, 3, 1])
    let taskNames = ["click", "like"]

    func parameters(gradients: [[Float]]) -> [Parameter] {
        gradients.enumerated().map { index, values in
            let parameter = Parameter(name: "layer.\(index).weight", value: Tensor(zeros: [values.count]))
            parameter.gradient = Tensor(shape: [values.count], scalars: values)
            return parameter
        }
    }

    /// Returns a `[2, 6]` input gradient with `value` at row 1, `column`.
    func inputGradient(_ value: Float, column: Int) -> Tensor {
        var scalars = [Float](repeating: 0.5, count: 12)
        scalars[6 + column] = value
        return Tensor(shape: [2, 6], scalars: scalars)
    }

    func testCases() {
        let finite: [[Float]] = [[1, 2], [3]]
        let cases: [(label: String, losses: [Float], gradients: [[Float]], input: Tensor?, expected: String?)] = [
            ("all finite", [0.5, 0.7], finite, inputGradient(1, column: 0), nil),
            ("loss NaN", [0.5, .nan], finite, nil, "loss of task like"),
            ("loss before gradient", [.infinity, 0.7], [[.nan, 2], [3]], nil, "loss of task click"),
            ("second parameter Inf", [0.5, 0.7], [[1, 2], [-.infinity]], nil, "gradient of layer.1.weight"),
            ("first feature", [0.5, 0.7], finite, inputGradient(.nan, column: 1), "gradient of embedding user"),
            ("second feature", [0.5, 0.7], finite, inputGradient(.nan, column: 2), "gradient of embedding item"),
            ("last feature", [0.5, 0.7], finite, inputGradient(.infinity, column: 5), "gradient of embedding scene"),
            ("empty batch", [0, 0], finite, nil, nil),
        ]
        for testCase in cases {
            let found = NonFiniteScan.firstNonFinite(lossSums: testCase.losses, taskNames: taskNames,
                                                     parameters: parameters(gradients: testCase.gradients),
                                                     inputGradient: testCase.input, layout: layout)
            XCTAssertEqual(found, testCase.expected, testCase.label)
        }
    }

    func testHooksParse() throws {
        let hooks = try TestHooks(environment: [TestHooks.nanAtStepVariable: "4:gradient",
                                                TestHooks.killAtStepVariable: "2:17",
                                                TestHooks.diskFullAtStepVariable: "6",
                                                TestHooks.stepDelayVariable: "20"])
        XCTAssertEqual(hooks.nanAtStep?.step, 4)
        XCTAssertEqual(hooks.nanAtStep?.target, .gradient)
        XCTAssertEqual(hooks.killAtStep?.rank, 2)
        XCTAssertEqual(hooks.killAtStep?.step, 17)
        XCTAssertEqual(hooks.diskFullAtStep, 6)
        XCTAssertEqual(hooks.stepDelayMilliseconds, 20)
        XCTAssertEqual(try TestHooks(environment: [:]), TestHooks())
        XCTAssertEqual(try TestHooks(environment: [TestHooks.nanAtStepVariable: "3"]).nanAtStep?.target, .loss)
    }

    func testHooksRejectMalformed() {
        let values = [(TestHooks.nanAtStepVariable, "0"), (TestHooks.nanAtStepVariable, "3:weights"),
                      (TestHooks.killAtStepVariable, "5"), (TestHooks.diskFullAtStepVariable, "soon"), (TestHooks.stepDelayVariable, "-1")]
        for (variable, value) in values {
            XCTAssertThrowsError(try TestHooks(environment: [variable: value]), "\(variable)=\(value)") { error in
                XCTAssertTrue(String(describing: error).contains(variable), String(describing: error))
            }
        }
    }
}
