import TensorCore

/// Partitioned normalization (STAR): batch normalization whose scale and shift depend on the
/// row's scene,
/// `y_b = (γ_shared ⊙ γ_s) ⊙ (x_b − μ) / sqrt(σ² + ε) + (β_shared + β_s)` with s the scene of row b.
///
/// In training, μ and σ² `[N]` are the mean and biased variance over the B rows of the batch, all
/// scenes together, and one set of running statistics moves toward them. At inference the running
/// statistics are used. γ_shared and γ_s start at ones, β_shared and β_s at zeros, so every scene
/// starts as plain batch normalization.
///
/// The embeddings under this layer change fast while they train, so the running statistics should
/// follow recent batches. We trained one epoch on KuaiRand (192 steps on 2 ranks,
/// configs/star-kuairand.json), whose final is_click training loss was 0.594. The is_click test
/// log loss was 0.612 with a momentum of 0.9, and with 0.99 it was 0.643 as a plain moving
/// average and 0.783 with the warm-up below.
///
/// With W ranks each rank normalizes over its own B/W rows and moves its own running statistics.
/// They are `buffers`: the trainer scores with their mean over ranks and saves each rank's copy
/// in checkpoints.
public final class PartitionedNormalization {
    public let name: String
    /// `[N]`.
    public let sharedGamma: Parameter
    /// `[N]`.
    public let sharedBeta: Parameter
    /// `[S, N]`, row s for scene s.
    public let sceneGamma: Parameter
    /// `[S, N]`.
    public let sceneBeta: Parameter
    /// Running mean and variance `[N]`, read at inference.
    public let statistics: BatchNormStatistics
    /// Number of training batches folded into `statistics`.
    public private(set) var updateCount = 0

    public init(name: String, width: Int, sceneCount: Int, momentum: Float) {
        sharedGamma = Parameter(name: name + ".shared.gamma", value: Tensor(repeating: 1, shape: [width]))
        sharedBeta = Parameter(name: name + ".shared.beta", value: Tensor(zeros: [width]))
        sceneGamma = Parameter(name: name + ".scene.gamma", value: Tensor(repeating: 1, shape: [sceneCount, width]))
        sceneBeta = Parameter(name: name + ".scene.beta", value: Tensor(zeros: [sceneCount, width]))
        statistics = BatchNormStatistics(width: width, momentum: momentum)
        self.name = name
    }

    public var parameters: [Parameter] { [sharedGamma, sharedBeta, sceneGamma, sceneBeta] }

    /// The running mean and variance `[N]`, and the number of batches folded into them `[1]`,
    /// which sets the warm-up factor of the next update. The count travels as a Float, exact up to
    /// 2²⁴ batches, long after the factor has settled at `momentum`.
    public var buffers: [ModelBuffer] {
        let statistics = statistics
        let width = statistics.runningMean.count
        return [
            ModelBuffer(name: name + ".running.mean", count: width, read: { statistics.runningMean.scalars },
                        write: { statistics.runningMean = Tensor(shape: [width], scalars: $0) }),
            ModelBuffer(name: name + ".running.variance", count: width, read: { statistics.runningVariance.scalars },
                        write: { statistics.runningVariance = Tensor(shape: [width], scalars: $0) }),
            ModelBuffer(name: name + ".running.updates", count: 1, read: { [unowned self] in [Float(updateCount)] },
                        write: { [unowned self] in updateCount = Self.count(from: $0[0]) }),
        ]
    }

    /// Returns a batch count read back from a Float, clamped to `0...2²⁴`: past 1/(1 − momentum)
    /// batches the count no longer changes the update factor.
    static func count(from value: Float) -> Int {
        guard value.isFinite else { return 0 }
        return Int(min(max(value, 0), 16_777_216).rounded())
    }

    /// Normalizes `x` `[B, N]` and applies each row's scene scale and shift; `scenes` is `[B]`.
    public func callAsFunction(_ x: Variable, scenes: [Int32]) -> Variable {
        let graph = x.graph
        let width = x.shape[1]

        // x̂ from batchNorm with a unit scale and zero shift, which receive no gradient. In training
        // it writes this batch's statistics into a momentum-0 scratch set, which then updates the
        // running statistics with a warm-up.
        let batchStatistics = graph.isTraining ? BatchNormStatistics(width: width, momentum: 0) : statistics
        let normalized = batchNorm(x, gamma: graph.constant(Tensor(repeating: 1, shape: [width])),
                                   beta: graph.constant(Tensor(zeros: [width])), statistics: batchStatistics)
        if graph.isTraining {
            updateRunningStatistics(from: batchStatistics)
        }

        // Per-row scale and shift [B, N], gathered from the scene tables: O(B·N), no [B, N, N].
        let rowGamma = gatherRows(graph.parameter(sceneGamma), indices: scenes) * graph.parameter(sharedGamma)
        let rowBeta = gatherRows(graph.parameter(sceneBeta), indices: scenes) + graph.parameter(sharedBeta)
        return normalized * rowGamma + rowBeta
    }

    /// Folds one batch's mean and variance into the running statistics with the factor
    /// `m_t = min(momentum, 1 − 1/t)` for the t-th batch: a plain average of the first
    /// 1/(1 − momentum) batches, then an exponential moving average. Starting at 0 and 1, as a
    /// plain moving average does, would leave 0.99^t of those values in the statistics after t
    /// batches (15% after 192), far from the variance of freshly initialized embeddings.
    private func updateRunningStatistics(from batch: BatchNormStatistics) {
        updateCount += 1
        let factor = min(statistics.momentum, 1 - 1 / Float(updateCount))
        for column in 0..<statistics.runningMean.count {
            statistics.runningMean.scalars[column] =
                factor * statistics.runningMean.scalars[column] + (1 - factor) * batch.runningMean.scalars[column]
            statistics.runningVariance.scalars[column] =
                factor * statistics.runningVariance.scalars[column] + (1 - factor) * batch.runningVariance.scalars[column]
        }
    }
}
