/// An activation that `linear` can apply in the same pass as the bias add.
public enum FusedActivation: Sendable {
    case identity
    case relu
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
                            let start = row * outputWidth
                            for column in 0..<outputWidth { output[start + column] = biasValues[column] }
                        }
                    }
                }
                gemm(transposeA: false, transposeB: false, m: rows, n: outputWidth, k: inputWidth,
                     a: input.baseAddress!, b: weights.baseAddress!, c: output.baseAddress!,
                     accumulate: bias != nil)
                if activation == .relu {
                    for i in 0..<output.count { output[i] = max(output[i], 0) }
                }
            }
        }
    }

    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return x.graph.record(value, inputs: inputs) { outputGradient in
        // dz: the gradient before the activation, [B, M].
        let dz = activation == .relu ? outputGradient.zipScalars(value) { $1 > 0 ? $0 : 0 } : outputGradient

        dz.scalars.withUnsafeBufferPointer { dzBuffer in
            if x.requiresGradient {
                let dx = weight.value.scalars.withUnsafeBufferPointer { weights in
                    Tensor(shape: x.shape) { dx in
                        gemmGradientA(transposeA: false, transposeB: false, m: rows, n: outputWidth, k: inputWidth,
                                      dc: dzBuffer.baseAddress!, b: weights.baseAddress!, da: dx.baseAddress!,
                                      accumulate: false)
                    }
                }
                x.accumulate(dx)
            }
            if weight.requiresGradient {
                let dw = x.value.scalars.withUnsafeBufferPointer { input in
                    Tensor(shape: weight.shape) { dw in
                        gemmGradientB(transposeA: false, transposeB: false, m: rows, n: outputWidth, k: inputWidth,
                                      dc: dzBuffer.baseAddress!, a: input.baseAddress!, db: dw.baseAddress!,
                                      accumulate: false)
                    }
                }
                weight.accumulate(dw)
            }
            if let bias, bias.requiresGradient {
                var db = Tensor(zeros: [outputWidth])
                db.scalars.withUnsafeMutableBufferPointer { biasGradient in
                    for row in 0..<rows {
                        let start = row * outputWidth
                        for column in 0..<outputWidth { biasGradient[column] += dzBuffer[start + column] }
                    }
                }
                bias.accumulate(db)
            }
        }
    }
}
