#if canImport(Glibc)
import Glibc
#endif

/// Returns the weighted binary cross-entropy of logits, with shape `[1]`:
/// `Σ_{b,t} w_t · (max(x, 0) − x·y + log1p(exp(−|x|))) / normalizer`.
///
/// `logits` and `labels` are `[B, T]`, `taskWeights` has T entries and `normalizer` is usually
/// the number of rows of the global batch. The form above equals `−y·log σ(x) − (1−y)·log(1−σ(x))`
/// but stays finite for any finite logit, because `exp` only sees `−|x|`. Backward:
/// `dx = (σ(x) − y) · w_t / normalizer`, times the output gradient. Labels may be soft (in [0, 1]).
public func binaryCrossEntropyWithLogits(_ logits: Variable, labels: Tensor, taskWeights: [Float],
                                         normalizer: Float) -> Variable {
    precondition(logits.value.rank == 2, "logits must be [B, T], got shape \(logits.shape)")
    precondition(labels.shape == logits.shape,
                 "labels shape \(labels.shape) must match logits shape \(logits.shape)")
    let taskCount = logits.shape[1]
    precondition(taskWeights.count == taskCount,
                 "taskWeights needs \(taskCount) entries, one per task, got \(taskWeights.count)")
    precondition(normalizer > 0, "normalizer must be positive, got \(normalizer)")

    var total: Double = 0
    logits.value.scalars.withUnsafeBufferPointer { x in
        labels.scalars.withUnsafeBufferPointer { y in
            for i in 0..<x.count {
                total += Double(taskWeights[i % taskCount] * logisticLoss(logit: x[i], label: y[i]))
            }
        }
    }
    let value = Tensor(shape: [1], scalars: [Float(total / Double(normalizer))])

    return logits.graph.record(value, inputs: [logits]) { gradient in
        let outputGradient = gradient.scalars[0] / normalizer
        let dx = logits.value.scalars.withUnsafeBufferPointer { x in
            labels.scalars.withUnsafeBufferPointer { y in
                Tensor(shape: logits.shape) { dx in
                    for i in 0..<x.count {
                        dx[i] = (logistic(x[i]) - y[i]) * taskWeights[i % taskCount] * outputGradient
                    }
                }
            }
        }
        logits.accumulate(dx)
    }
}

/// Returns `max(x, 0) − x·y + log1p(exp(−|x|))`, the cross-entropy of one logit and label.
@inline(__always)
func logisticLoss(logit x: Float, label y: Float) -> Float {
    max(x, 0) - x * y + log1p(exp(-abs(x)))
}

/// Returns, for each task, the cross-entropy summed over the rows of `logits` `[B, T]` and
/// `labels` `[B, T]`, in Double. For logging: divide by the row count for a mean.
public func binaryCrossEntropyPerTask(logits: Tensor, labels: Tensor) -> [Double] {
    precondition(logits.rank == 2, "logits must be [B, T], got shape \(logits.shape)")
    precondition(labels.shape == logits.shape,
                 "labels shape \(labels.shape) must match logits shape \(logits.shape)")
    let taskCount = logits.shape[1]
    var totals = [Double](repeating: 0, count: taskCount)
    for i in 0..<logits.count {
        totals[i % taskCount] += Double(logisticLoss(logit: logits.scalars[i], label: labels.scalars[i]))
    }
    return totals
}
