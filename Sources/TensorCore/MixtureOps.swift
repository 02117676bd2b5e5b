#if canImport(Glibc)
import Glibc
#endif

/// Returns each task's softmax-gated mixture of E experts, row by row:
/// `g_t = softmax(l_t)` over the E logits of task t, and `u_t = Σ_e g_t,e · h_e`.
///
/// - Parameters:
///   - experts: `[B, X]` whose first E·H columns are the expert outputs `h_0 | h_1 | …`, each H wide.
///   - expertWidth: H.
///   - gateLogits: `[B, Y]` whose columns `gateOffset ..< gateOffset + T·E` are the logits
///     `l_0 | l_1 | …`, E per task. It may be the same variable as `experts`.
///   - taskCount: T.
/// - Returns: `[B, T·H]`, task t in columns `t·H ..< (t+1)·H`.
///
/// This is `mixExperts(experts, gates: softmax(logits))` per task in one pass, without the
/// stacked `[B, E, H]` copy or the broadcast product. Backward, with `du` the output gradient:
/// `dh_e = Σ_t g_t,e · du_t`, `dg_t,e = du_t · h_e`, and `dl_t = g_t ⊙ (dg_t − Σ_e g_t,e · dg_t,e)`.
/// Each adds into its own columns of the input's gradient.
public func gatedMixture(experts: Variable, expertWidth: Int, gateLogits: Variable, gateOffset: Int,
                         taskCount: Int) -> Variable {
    precondition(experts.value.rank == 2 && gateLogits.value.rank == 2,
                 "gatedMixture needs experts [B, X] and gate logits [B, Y], got \(experts.shape) and \(gateLogits.shape)")
    precondition(taskCount > 0 && expertWidth > 0, "gatedMixture needs T > 0 and H > 0, got \(taskCount) and \(expertWidth)")
    let rows = experts.shape[0]
    let expertStride = experts.shape[1]
    let gateStride = gateLogits.shape[1]
    let expertCount = (gateStride - gateOffset) / taskCount
    precondition(gateLogits.shape[0] == rows, "gatedMixture gate logits have \(gateLogits.shape[0]) rows, experts \(rows)")
    precondition(expertCount > 0 && gateOffset >= 0 && gateOffset + taskCount * expertCount == gateStride,
                 "gatedMixture gate logits \(gateLogits.shape) from column \(gateOffset) must hold T·E columns for T \(taskCount)")
    precondition(expertCount * expertWidth <= expertStride,
                 "gatedMixture experts \(experts.shape) must hold E·H = \(expertCount)·\(expertWidth) columns")
    let (e, h, t) = (expertCount, expertWidth, taskCount)
    let outputWidth = t * h

    // The softmax gates [B, T·E], kept for backward.
    let gates = gateLogits.value.scalars.withUnsafeBufferPointer { logits in
        Tensor(shape: [rows, t * e]) { gates in
            for row in 0..<rows {
                for task in 0..<t {
                    let source = logits.baseAddress! + row * gateStride + gateOffset + task * e
                    let destination = gates.baseAddress! + (row * t + task) * e
                    var maximum = -Float.infinity
                    for expert in 0..<e { maximum = max(maximum, source[expert]) }
                    var total: Float = 0
                    for expert in 0..<e {
                        destination[expert] = exp(source[expert] - maximum)
                        total += destination[expert]
                    }
                    let inverse = 1 / total
                    for expert in 0..<e { destination[expert] *= inverse }
                }
            }
        }
    }

    let value = experts.value.scalars.withUnsafeBufferPointer { hidden in
        gates.scalars.withUnsafeBufferPointer { weights in
            Tensor(shape: [rows, outputWidth]) { output in
                for row in 0..<rows {
                    let expertRow = hidden.baseAddress! + row * expertStride
                    for task in 0..<t {
                        let mixed = output.baseAddress! + row * outputWidth + task * h
                        let gate = weights.baseAddress! + (row * t + task) * e
                        writeScaled(expertRow, scale: gate[0], into: mixed, count: h)
                        for expert in 1..<e {
                            addScaled(expertRow + expert * h, scale: gate[expert], into: mixed, count: h)
                        }
                    }
                }
            }
        }
    }

    return experts.graph.record(value, inputs: [experts, gateLogits]) { outputGradient in
        outputGradient.scalars.withUnsafeBufferPointer { du in
            gates.scalars.withUnsafeBufferPointer { weights in
                // The two passes take the gradient buffers one after the other, since experts and
                // gateLogits may be the same variable.
                if experts.requiresGradient {
                    // dh_e = Σ_t g_t,e · du_t. When dh covers the whole experts input and no
                    // gradient has started, the first task overwrites a fresh tensor instead of
                    // adding into zeros.
                    func addExpertGradients(into dh: UnsafeMutableBufferPointer<Float>, overwrite: Bool) {
                        for row in 0..<rows {
                            let expertGradient = dh.baseAddress! + row * expertStride
                            for task in 0..<t {
                                let taskGradient = du.baseAddress! + row * outputWidth + task * h
                                let gate = weights.baseAddress! + (row * t + task) * e
                                for expert in 0..<e {
                                    if overwrite && task == 0 {
                                        writeScaled(taskGradient, scale: gate[expert],
                                                    into: expertGradient + expert * h, count: h)
                                    } else {
                                        addScaled(taskGradient, scale: gate[expert],
                                                  into: expertGradient + expert * h, count: h)
                                    }
                                }
                            }
                        }
                    }
                    if experts.gradient == nil && experts !== gateLogits && expertStride == e * h {
                        experts.accumulate(Tensor(shape: experts.shape) { addExpertGradients(into: $0, overwrite: true) })
                    } else {
                        experts.withGradientBuffer { addExpertGradients(into: $0, overwrite: false) }
                    }
                }
                if gateLogits.requiresGradient {
                    let hiddenValues = experts.value
                    let dots = UnsafeMutablePointer<Float>.allocate(capacity: e)
                    defer { dots.deallocate() }
                    gateLogits.withGradientBuffer { dl in
                        hiddenValues.scalars.withUnsafeBufferPointer { hidden in
                            for row in 0..<rows {
                                let expertRow = hidden.baseAddress! + row * expertStride
                                for task in 0..<t {
                                    let taskGradient = du.baseAddress! + row * outputWidth + task * h
                                    let gate = weights.baseAddress! + (row * t + task) * e
                                    let destination = dl.baseAddress! + row * gateStride + gateOffset + task * e
                                    var weightedSum: Float = 0
                                    for expert in 0..<e {
                                        let source = expertRow + expert * h
                                        let dot = dotProduct(taskGradient, source, count: h)
                                        dots[expert] = dot
                                        weightedSum += gate[expert] * dot
                                    }
                                    for expert in 0..<e {
                                        destination[expert] += gate[expert] * (dots[expert] - weightedSum)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
