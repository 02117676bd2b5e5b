/// Returns `x` with each element zeroed with probability `rate` and the survivors scaled by
/// `1 / (1 − rate)` (inverted dropout), so the expected value is unchanged and inference needs no
/// rescaling. Returns `x` itself when the graph is not training or `rate` is 0.
///
/// The mask draws one `generator.nextFloat()` per element in row-major order and keeps the
/// element when the draw is at least `rate`, so a copy of the generator reproduces the mask.
/// Backward multiplies the gradient by the same mask and scale.
public func dropout(_ x: Variable, rate: Float, generator: inout RandomGenerator) -> Variable {
    precondition(rate >= 0 && rate < 1, "dropout rate must be in [0, 1), got \(rate)")
    guard x.graph.isTraining && rate > 0 else { return x }

    let keptScale = 1 / (1 - rate)
    var mask = Tensor(zeros: x.shape)
    for i in 0..<mask.count {
        mask.scalars[i] = generator.nextFloat() >= rate ? keptScale : 0
    }
    let value = x.value.zipScalars(mask, *)
    return x.graph.record(value, inputs: [x]) { gradient in
        x.accumulate(gradient.zipScalars(mask, *))
    }
}
