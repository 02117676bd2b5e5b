import Models
import TensorCore

/// Finds the first NaN or Inf of a step on one rank, in the order the step computes them:
/// the per-task losses, the dense gradients, then the gradient of the embedding input.
enum NonFiniteScan {
    /// Returns a name for the first non-finite value, such as `loss of task click`,
    /// `gradient of tower.0.weight` or `gradient of embedding user_id`; nil when all are finite.
    /// - Parameters:
    ///   - lossSums: `[T]` this rank's loss sums.
    ///   - inputGradient: `[B, F·D]` the gradient of the embedding rows, when the batch had rows.
    static func firstNonFinite(lossSums: [Float], taskNames: [String], parameters: [Parameter],
                               inputGradient: Tensor?, layout: FeatureLayout) -> String? {
        firstNonFinite(lossSums: lossSums, taskNames: taskNames, parameters: parameters,
                       gradientIsFinite: { allFinite(parameters[$0].gradient.scalars) },
                       inputGradient: inputGradient, layout: layout)
    }

    /// Returns the name like `firstNonFinite(lossSums:taskNames:parameters:inputGradient:layout:)`
    /// does, taking whether each dense gradient is finite from `gradientIsFinite`, which gets the
    /// index in `parameters`, for a caller that checked them while copying them.
    static func firstNonFinite(lossSums: [Float], taskNames: [String], parameters: [Parameter],
                               gradientIsFinite: (Int) -> Bool, inputGradient: Tensor?,
                               layout: FeatureLayout) -> String? {
        if let task = lossSums.firstIndex(where: { !$0.isFinite }) {
            return "loss of task \(taskNames[task])"
        }
        for index in parameters.indices where !gradientIsFinite(index) {
            return "gradient of \(parameters[index].name)"
        }
        guard let inputGradient, !allFinite(inputGradient.scalars) else { return nil }
        let width = layout.totalWidth
        let index = inputGradient.scalars.firstIndex { !$0.isFinite }!
        let column = index % width
        let feature = layout.offsets.lastIndex { $0 <= column }!
        return "gradient of embedding \(layout.names[feature])"
    }

    static func allFinite(_ values: [Float]) -> Bool {
        values.withUnsafeBufferPointer { TensorCore.allFinite($0) }
    }
}
