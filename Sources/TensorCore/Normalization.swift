// Layer and batch normalization. Both normalize to `x̂ = (x − μ)/sqrt(σ² + ε)` with the biased
// variance σ², then return `γ ⊙ x̂ + β`. Their backward shares one formula per normalized group
// of n elements: `dx = (dx̂ − mean(dx̂) − x̂ ⊙ mean(dx̂ ⊙ x̂)) / sqrt(σ² + ε)`, with `dx̂ = dy ⊙ γ`.

/// Returns `x` normalized over its last axis, then scaled by `gamma` and shifted by `beta`.
/// `x` is `[..., N]` (rank 1 to 3), `gamma` and `beta` are `[N]`; the result has the shape of `x`.
public func layerNorm(_ x: Variable, gamma: Variable, beta: Variable, epsilon: Float = 1e-5) -> Variable {
    let width = x.shape.last!
    precondition(gamma.shape == [width] && beta.shape == [width],
                 "layerNorm gamma and beta must be [\(width)] for x \(x.shape), got \(gamma.shape) and \(beta.shape)")
    let rows = width == 0 ? 0 : x.value.count / width

    // x̂ `[rows, N]` and 1/sqrt(σ² + ε) `[rows]`, saved for backward.
    var normalized = Tensor(zeros: x.shape)
    var inverseDeviations = [Float](repeating: 0, count: rows)
    x.value.scalars.withUnsafeBufferPointer { input in
        normalized.scalars.withUnsafeMutableBufferPointer { output in
            for row in 0..<rows {
                let start = row * width
                var total: Float = 0
                for i in start..<start + width { total += input[i] }
                let mean = total / Float(width)
                var squares: Float = 0
                for i in start..<start + width { squares += (input[i] - mean) * (input[i] - mean) }
                let inverseDeviation = 1 / (squares / Float(width) + epsilon).squareRoot()
                inverseDeviations[row] = inverseDeviation
                for i in start..<start + width { output[i] = (input[i] - mean) * inverseDeviation }
            }
        }
    }
    let value = affine(normalized, gamma: gamma.value, beta: beta.value)

    return x.graph.record(value, inputs: [x, gamma, beta]) { gradient in
        accumulateAffineGradients(gradient, normalized: normalized, gamma: gamma, beta: beta)
        guard x.requiresGradient else { return }
        let dx = gradient.scalars.withUnsafeBufferPointer { dy in
            normalized.scalars.withUnsafeBufferPointer { xHat in
                gamma.value.scalars.withUnsafeBufferPointer { scale in
                    Tensor(shape: x.shape) { dx in
                        for row in 0..<rows {
                            let start = row * width
                            var meanGradient: Float = 0
                            var meanProjection: Float = 0
                            for column in 0..<width {
                                let dxHat = dy[start + column] * scale[column]
                                meanGradient += dxHat
                                meanProjection += dxHat * xHat[start + column]
                            }
                            meanGradient /= Float(width)
                            meanProjection /= Float(width)
                            for column in 0..<width {
                                let i = start + column
                                let dxHat = dy[i] * scale[column]
                                dx[i] = (dxHat - meanGradient - xHat[i] * meanProjection) * inverseDeviations[row]
                            }
                        }
                    }
                }
            }
        }
        x.accumulate(dx)
    }
}

/// Returns `gamma ⊙ normalized + beta` with `gamma` and `beta` `[N]` repeated over the rows.
private func affine(_ normalized: Tensor, gamma: Tensor, beta: Tensor) -> Tensor {
    let width = gamma.count
    return normalized.scalars.withUnsafeBufferPointer { xHat in
        Tensor(shape: normalized.shape) { output in
            for start in stride(from: 0, to: xHat.count, by: max(width, 1)) {
                for column in 0..<width {
                    output[start + column] = gamma.scalars[column] * xHat[start + column] + beta.scalars[column]
                }
            }
        }
    }
}

/// Adds `dγ = Σ dy ⊙ x̂` and `dβ = Σ dy`, summed over all rows, into `gamma` and `beta`.
private func accumulateAffineGradients(_ gradient: Tensor, normalized: Tensor, gamma: Variable, beta: Variable) {
    let width = gamma.shape[0]
    var gammaGradient = Tensor(zeros: [width])
    var betaGradient = Tensor(zeros: [width])
    gradient.scalars.withUnsafeBufferPointer { dy in
        normalized.scalars.withUnsafeBufferPointer { xHat in
            for start in stride(from: 0, to: dy.count, by: max(width, 1)) {
                for column in 0..<width {
                    gammaGradient.scalars[column] += dy[start + column] * xHat[start + column]
                    betaGradient.scalars[column] += dy[start + column]
                }
            }
        }
    }
    gamma.accumulate(gammaGradient)
    beta.accumulate(betaGradient)
}

/// The running mean and variance of a batch-normalization layer, used at inference.
///
/// Training updates them as Keras does: `running ← momentum·running + (1 − momentum)·batch`,
/// with the biased batch variance. A class because every training step writes it in place and
/// checkpoints read it. Owned by one rank's model, so it needs no lock.
/// NOTE: each rank updates its statistics from its own rows only, so ranks drift apart. The
/// trainer should average these tensors over ranks, or copy rank 0's, before evaluation.
public final class BatchNormStatistics {
    /// Per-feature running mean `[N]`, starting at 0.
    public var runningMean: Tensor
    /// Per-feature running variance `[N]`, starting at 1.
    public var runningVariance: Tensor
    public let momentum: Float

    public init(width: Int, momentum: Float = 0.99) {
        precondition(momentum >= 0 && momentum <= 1, "batch norm momentum must be in [0, 1], got \(momentum)")
        runningMean = Tensor(zeros: [width])
        runningVariance = Tensor(repeating: 1, shape: [width])
        self.momentum = momentum
    }
}

/// Returns `x` `[B, N]` normalized per feature, then scaled by `gamma` `[N]` and shifted by
/// `beta` `[N]`.
///
/// When the graph is training, the mean and variance come from the B rows of this batch (the
/// gradient flows through them), and `statistics` moves toward them. Otherwise the running
/// statistics are used as constants and `statistics` is left unchanged.
public func batchNorm(_ x: Variable, gamma: Variable, beta: Variable, statistics: BatchNormStatistics,
                      epsilon: Float = 1e-5) -> Variable {
    precondition(x.value.rank == 2, "batchNorm needs x [B, N], got shape \(x.shape)")
    let (rows, width) = (x.shape[0], x.shape[1])
    precondition(gamma.shape == [width] && beta.shape == [width],
                 "batchNorm gamma and beta must be [\(width)] for x \(x.shape), got \(gamma.shape) and \(beta.shape)")
    precondition(statistics.runningMean.shape == [width],
                 "batchNorm statistics have width \(statistics.runningMean.shape), x has \(width) features")
    let training = x.graph.isTraining
    precondition(!training || rows > 0, "batchNorm in training needs at least one row")

    // Per-feature mean and variance `[N]`, from the batch when training.
    var means = statistics.runningMean.scalars
    var variances = statistics.runningVariance.scalars
    if training {
        means = [Float](repeating: 0, count: width)
        variances = [Float](repeating: 0, count: width)
        for row in 0..<rows {
            for column in 0..<width { means[column] += x.value.scalars[row * width + column] }
        }
        for column in 0..<width { means[column] /= Float(rows) }
        for row in 0..<rows {
            for column in 0..<width {
                let centered = x.value.scalars[row * width + column] - means[column]
                variances[column] += centered * centered
            }
        }
        for column in 0..<width { variances[column] /= Float(rows) }

        let momentum = statistics.momentum
        for column in 0..<width {
            statistics.runningMean.scalars[column] =
                momentum * statistics.runningMean.scalars[column] + (1 - momentum) * means[column]
            statistics.runningVariance.scalars[column] =
                momentum * statistics.runningVariance.scalars[column] + (1 - momentum) * variances[column]
        }
    }
    let inverseDeviations = variances.map { 1 / ($0 + epsilon).squareRoot() }
    let normalized = x.value.scalars.withUnsafeBufferPointer { input in
        Tensor(shape: x.shape) { output in
            for row in 0..<rows {
                for column in 0..<width {
                    let i = row * width + column
                    output[i] = (input[i] - means[column]) * inverseDeviations[column]
                }
            }
        }
    }
    let value = affine(normalized, gamma: gamma.value, beta: beta.value)

    return x.graph.record(value, inputs: [x, gamma, beta]) { gradient in
        accumulateAffineGradients(gradient, normalized: normalized, gamma: gamma, beta: beta)
        guard x.requiresGradient else { return }

        // dx̂ = dy ⊙ γ. With batch statistics, each feature's mean and variance depend on every
        // row, which adds the two mean terms; with running statistics they are constants.
        var meanGradient = [Float](repeating: 0, count: width)
        var meanProjection = [Float](repeating: 0, count: width)
        if training {
            for row in 0..<rows {
                for column in 0..<width {
                    let i = row * width + column
                    let dxHat = gradient.scalars[i] * gamma.value.scalars[column]
                    meanGradient[column] += dxHat
                    meanProjection[column] += dxHat * normalized.scalars[i]
                }
            }
            for column in 0..<width {
                meanGradient[column] /= Float(rows)
                meanProjection[column] /= Float(rows)
            }
        }
        let dx = Tensor(shape: x.shape) { dx in
            for row in 0..<rows {
                for column in 0..<width {
                    let i = row * width + column
                    let dxHat = gradient.scalars[i] * gamma.value.scalars[column]
                    dx[i] = (dxHat - meanGradient[column] - normalized.scalars[i] * meanProjection[column])
                        * inverseDeviations[column]
                }
            }
        }
        x.accumulate(dx)
    }
}
