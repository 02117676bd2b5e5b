/// An activation that `linear` can apply in the same pass as the bias add.
public enum FusedActivation: Sendable, Equatable {
    case identity
    case relu
    /// `scale · sigmoid(z)`, the output of a GateNU; backward uses `y · (1 − y / scale)`.
    case scaledSigmoid(scale: Float)
}

/// Returns `activation(x · weight + bias)` for a dense layer: `x` is `[B, N]`, `weight` is
/// `[N, M]` (stored input-major, as Keras stores it), `bias` is `[M]` or nil, and the result is
/// `[B, M]`.
///
/// The bias rows are written first and sgemm adds the product onto them, so the bias add costs
/// no extra pass. A fused ReLU runs on the result in place and its backward masks the gradient
/// by the output (`y > 0`), which saves one tensor per layer over `relu(linear(...))`.
public func linear(_ x: Variable, weight: Variable, bias: Variable?,
                   activation: FusedActivation = .identity) -> Variable {
    precondition(x.value.rank == 2 && weight.value.rank == 2,
                 "linear needs x [B, N] and weight [N, M], got \(x.shape) and \(weight.shape)")
    let rows = x.shape[0]
    let inputWidth = x.shape[1]
    let outputWidth = weight.shape[1]
    precondition(weight.shape[0] == inputWidth,
                 "linear weight must be [\(inputWidth), M] for x \(x.shape), got \(weight.shape)")
    if let bias {
        precondition(bias.shape == [outputWidth], "linear bias must be [\(outputWidth)], got \(bias.shape)")
    }

    let value = x.value.scalars.withUnsafeBufferPointer { input in
        weight.value.scalars.withUnsafeBufferPointer { weights in
            Tensor(shape: [rows, outputWidth]) { output in
                if let bias {
                    bias.value.scalars.withUnsafeBufferPointer { biasValues in
                        for row in 0..<rows {
                            (output.baseAddress! + row * outputWidth).update(from: biasValues.baseAddress!,
                                                                             count: outputWidth)
                        }
                    }
                }
                gemm(transposeA: false, transposeB: false, m: rows, n: outputWidth, k: inputWidth,
                     a: input.baseAddress!, b: weights.baseAddress!, c: output.baseAddress!,
                     accumulate: bias != nil)
                applyActivation(activation, to: output)
            }
        }
    }

    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return x.graph.record(value, inputs: inputs) { outputGradient in
        // dz: the gradient before the activation, [B, M].
        let dz = activationGradient(activation, outputGradient, output: value)

        dz.scalars.withUnsafeBufferPointer { dzBuffer in
            if x.requiresGradient {
                let dx = weight.value.scalars.withUnsafeBufferPointer { weights in
                    inputGradient(dz: dzBuffer.baseAddress!, weights: weights.baseAddress!, rows: rows,
                                  inputWidth: inputWidth, outputWidth: outputWidth,
                                  columns: x.neededGradientColumns)
                }
                x.accumulate(dx)
            }
            x.value.scalars.withUnsafeBufferPointer { input in
                weight.withGradientStorage { dw, accumulate in
                    gemmGradientB(transposeA: false, transposeB: false, m: rows, n: outputWidth, k: inputWidth,
                                  dc: dzBuffer.baseAddress!, a: input.baseAddress!, db: dw, accumulate: accumulate)
                }
            }
            bias?.withGradientStorage { sums, accumulate in
                if !accumulate { sums.update(repeating: 0, count: outputWidth) }
                addColumnSums(dzBuffer.baseAddress!, rows: rows, width: outputWidth, stride: outputWidth, into: sums)
            }
        }
    }
}

/// Returns `dx = dz · Wᵀ`, `[B, N]`, computing only `columns` when given: the rows of `W` that
/// belong to other columns are skipped, and those columns of `dx` are zero.
private func inputGradient(dz: UnsafePointer<Float>, weights: UnsafePointer<Float>, rows: Int, inputWidth: Int,
                           outputWidth: Int, columns: [Range<Int>]?) -> Tensor {
    guard let columns else {
        return Tensor(shape: [rows, inputWidth]) { dx in
            gemmGradientA(transposeA: false, transposeB: false, m: rows, n: outputWidth, k: inputWidth,
                          dc: dz, b: weights, da: dx.baseAddress!, accumulate: false)
        }
    }
    var dx = Tensor(zeros: [rows, inputWidth])
    dx.scalars.withUnsafeMutableBufferPointer { full in
        for range in columns where !range.isEmpty {
            // W's rows `range` are contiguous in its row-major [N, M] layout.
            let part = Tensor(shape: [rows, range.count]) { partial in
                gemmGradientA(transposeA: false, transposeB: false, m: rows, n: outputWidth, k: range.count,
                              dc: dz, b: weights + range.lowerBound * outputWidth, da: partial.baseAddress!,
                              accumulate: false)
            }
            part.scalars.withUnsafeBufferPointer { partial in
                for row in 0..<rows {
                    let destination = full.baseAddress! + row * inputWidth + range.lowerBound
                    destination.update(from: partial.baseAddress! + row * range.count, count: range.count)
                }
            }
        }
    }
    return dx
}
