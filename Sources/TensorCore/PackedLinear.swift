// Several dense layers run as one operation, for mixtures of experts. Layers that share their
// input become one GEMM over side-by-side weights. Layers that each read their own column block
// of one input write their own column block of one output, so no split or concat copies are made.

/// Returns `[act_0(x · W_0 + b_0) | act_1(x · W_1 + b_1) | …]`: L dense layers on the same input,
/// their outputs side by side.
///
/// - Parameters:
///   - x: `[B, N]`.
///   - weights: L matrices `[N, M_l]`, input-major as in `linear`.
///   - biases: L vectors `[M_l]`.
///   - activations: L activations, one per layer.
/// - Returns: `[B, ΣM_l]`, layer l in columns `Σ_{i<l} M_i ..< Σ_{i≤l} M_i`.
///
/// The weights are copied side by side into one `[N, ΣM]` matrix per call, so forward is one
/// GEMM and backward two (`dx = dz · Wᵀ`, `dW = xᵀ · dz`) whatever L is. The copy is
/// O(N·ΣM), small next to the O(B·N·ΣM) products. Each weight keeps its own parameter.
public func packedLinear(_ x: Variable, weights: [Variable], biases: [Variable],
                         activations: [FusedActivation]) -> Variable {
    precondition(!weights.isEmpty, "packedLinear needs at least one layer")
    precondition(biases.count == weights.count && activations.count == weights.count,
                 "packedLinear needs one bias and activation per weight: \(weights.count) weights, "
                 + "\(biases.count) biases, \(activations.count) activations")
    precondition(x.value.rank == 2, "packedLinear needs x [B, N], got \(x.shape)")
    let rows = x.shape[0]
    let inputWidth = x.shape[1]
    for (weight, bias) in zip(weights, biases) {
        precondition(weight.value.rank == 2 && weight.shape[0] == inputWidth,
                     "packedLinear weight must be [\(inputWidth), M] for x \(x.shape), got \(weight.shape)")
        precondition(bias.shape == [weight.shape[1]],
                     "packedLinear bias must be [\(weight.shape[1])], got \(bias.shape)")
    }
    let widths = weights.map { $0.shape[1] }
    let offsets = widths.reduce(into: [0]) { $0.append($0.last! + $1) }
    let totalWidth = offsets.last!

    // W [N, ΣM] and b [ΣM], the layers side by side.
    let packedWeight = Tensor(shape: [inputWidth, totalWidth]) { packed in
        for (layer, weight) in weights.enumerated() {
            weight.value.scalars.withUnsafeBufferPointer { source in
                for row in 0..<inputWidth {
                    (packed.baseAddress! + row * totalWidth + offsets[layer])
                        .update(from: source.baseAddress! + row * widths[layer], count: widths[layer])
                }
            }
        }
    }
    let packedBias = Tensor(shape: [totalWidth]) { packed in
        for (layer, bias) in biases.enumerated() {
            bias.value.scalars.withUnsafeBufferPointer { source in
                (packed.baseAddress! + offsets[layer]).update(from: source.baseAddress!, count: widths[layer])
            }
        }
    }

    let value = x.value.scalars.withUnsafeBufferPointer { input in
        packedWeight.scalars.withUnsafeBufferPointer { weight in
            packedBias.scalars.withUnsafeBufferPointer { bias in
                Tensor(shape: [rows, totalWidth]) { output in
                    fillRows(output.baseAddress!, rows: rows, width: totalWidth, stride: totalWidth,
                             with: bias.baseAddress!)
                    stridedGemm(m: rows, n: totalWidth, k: inputWidth, a: input.baseAddress!, lda: inputWidth,
                                b: weight.baseAddress!, ldb: totalWidth, c: output.baseAddress!, ldc: totalWidth,
                                accumulate: true)
                    for (layer, activation) in activations.enumerated() where activation == .relu {
                        for row in 0..<rows {
                            let line = output.baseAddress! + row * totalWidth + offsets[layer]
                            rectify(line, into: line, count: widths[layer])
                        }
                    }
                }
            }
        }
    }

    return x.graph.record(value, inputs: [x] + weights + biases) { outputGradient in
        // dz: the gradient before the activations, [B, ΣM].
        let dz = outputGradient.scalars.withUnsafeBufferPointer { dy in
            value.scalars.withUnsafeBufferPointer { output in
                Tensor(shape: [rows, totalWidth]) { dz in
                    for row in 0..<rows {
                        for (layer, activation) in activations.enumerated() {
                            let start = row * totalWidth + offsets[layer]
                            if activation == .relu {
                                reluGradient(dy.baseAddress! + start, output: output.baseAddress! + start,
                                             into: dz.baseAddress! + start, count: widths[layer])
                            } else {
                                (dz.baseAddress! + start).update(from: dy.baseAddress! + start, count: widths[layer])
                            }
                        }
                    }
                }
            }
        }

        dz.scalars.withUnsafeBufferPointer { dzBuffer in
            if x.requiresGradient {
                let dx = packedWeight.scalars.withUnsafeBufferPointer { weight in
                    Tensor(shape: x.shape) { dx in
                        stridedGemm(transposeB: true, m: rows, n: inputWidth, k: totalWidth,
                                    a: dzBuffer.baseAddress!, lda: totalWidth, b: weight.baseAddress!,
                                    ldb: totalWidth, c: dx.baseAddress!, ldc: inputWidth, accumulate: false)
                    }
                }
                x.accumulate(dx)
            }
            if weights.contains(where: \.requiresGradient) {
                let dw = x.value.scalars.withUnsafeBufferPointer { input in
                    Tensor(shape: [inputWidth, totalWidth]) { dw in
                        stridedGemm(transposeA: true, m: inputWidth, n: totalWidth, k: rows,
                                    a: input.baseAddress!, lda: inputWidth, b: dzBuffer.baseAddress!,
                                    ldb: totalWidth, c: dw.baseAddress!, ldc: totalWidth, accumulate: false)
                    }
                }
                for (layer, weight) in weights.enumerated() where weight.requiresGradient {
                    weight.accumulate(sliceLastAxis(dw, offset: offsets[layer], width: widths[layer]))
                }
            }
            if biases.contains(where: \.requiresGradient) {
                var sums = Tensor(zeros: [totalWidth])
                sums.scalars.withUnsafeMutableBufferPointer { total in
                    addColumnSums(dzBuffer.baseAddress!, rows: rows, width: totalWidth, stride: totalWidth,
                                  into: total.baseAddress!)
                }
                for (layer, bias) in biases.enumerated() where bias.requiresGradient {
                    bias.accumulate(sliceLastAxis(sums, offset: offsets[layer], width: widths[layer]))
                }
            }
        }
    }
}

/// Returns `[act(x_0 · W_0 + b_0) | act(x_1 · W_1 + b_1) | …]` where `x_l` is the l-th column
/// block of `x`: L dense layers on side-by-side inputs, such as the second layers of E experts
/// whose first layers `packedLinear` computed together.
///
/// - Parameters:
///   - x: `[B, X]`; layer l reads the N_l columns starting at `inputOffset + Σ_{i<l} N_i`, and
///     columns outside those blocks are ignored (and get no gradient from this operation).
///   - weights: L matrices `[N_l, M_l]`.
///   - biases: L vectors `[M_l]`.
/// - Returns: `[B, ΣM_l]`, layer l in columns `Σ_{i<l} M_i ..< Σ_{i≤l} M_i`.
///
/// Each layer is one GEMM that reads its block in place through the row stride X; backward adds
/// `dx_l = dz_l · W_lᵀ` straight into the block's columns of x's gradient.
public func blockDiagonalLinear(_ x: Variable, inputOffset: Int = 0, weights: [Variable], biases: [Variable],
                                activation: FusedActivation = .identity) -> Variable {
    precondition(!weights.isEmpty, "blockDiagonalLinear needs at least one layer")
    precondition(biases.count == weights.count,
                 "blockDiagonalLinear needs one bias per weight: \(weights.count) weights, \(biases.count) biases")
    precondition(x.value.rank == 2, "blockDiagonalLinear needs x [B, X], got \(x.shape)")
    let rows = x.shape[0]
    let inputStride = x.shape[1]
    for (weight, bias) in zip(weights, biases) {
        precondition(weight.value.rank == 2, "blockDiagonalLinear weights must be [N, M], got \(weight.shape)")
        precondition(bias.shape == [weight.shape[1]],
                     "blockDiagonalLinear bias must be [\(weight.shape[1])], got \(bias.shape)")
    }
    let inputWidths = weights.map { $0.shape[0] }
    let widths = weights.map { $0.shape[1] }
    let inputOffsets = inputWidths.reduce(into: [inputOffset]) { $0.append($0.last! + $1) }
    let offsets = widths.reduce(into: [0]) { $0.append($0.last! + $1) }
    let totalWidth = offsets.last!
    precondition(inputOffset >= 0 && inputOffsets.last! <= inputStride,
                 "blockDiagonalLinear blocks of widths \(inputWidths) from column \(inputOffset) "
                 + "do not fit x \(x.shape)")

    let value = x.value.scalars.withUnsafeBufferPointer { input in
        Tensor(shape: [rows, totalWidth]) { output in
            for (layer, (weight, bias)) in zip(weights, biases).enumerated() {
                let block = output.baseAddress! + offsets[layer]
                bias.value.scalars.withUnsafeBufferPointer { biasValues in
                    fillRows(block, rows: rows, width: widths[layer], stride: totalWidth, with: biasValues.baseAddress!)
                }
                weight.value.scalars.withUnsafeBufferPointer { matrix in
                    stridedGemm(m: rows, n: widths[layer], k: inputWidths[layer],
                                a: input.baseAddress! + inputOffsets[layer], lda: inputStride,
                                b: matrix.baseAddress!, ldb: widths[layer], c: block, ldc: totalWidth,
                                accumulate: true)
                }
            }
            if activation == .relu {
                rectify(output.baseAddress!, into: output.baseAddress!, count: output.count)
            }
        }
    }

    return x.graph.record(value, inputs: [x] + weights + biases) { outputGradient in
        // dz: the gradient before the activation, [B, ΣM].
        var dz = outputGradient
        if activation == .relu {
            dz = outputGradient.scalars.withUnsafeBufferPointer { dy in
                value.scalars.withUnsafeBufferPointer { output in
                    Tensor(shape: outputGradient.shape) { dz in
                        reluGradient(dy.baseAddress!, output: output.baseAddress!, into: dz.baseAddress!,
                                     count: dz.count)
                    }
                }
            }
        }

        dz.scalars.withUnsafeBufferPointer { dzBuffer in
            if x.requiresGradient {
                // dx_l = dz_l · W_lᵀ into block l's columns. When the blocks cover every column of
                // a gradient not started yet, the GEMMs overwrite a fresh tensor; otherwise they
                // add into the buffer other readers of x share.
                func addInputGradients(into dx: UnsafeMutableBufferPointer<Float>, accumulate: Bool) {
                    for (layer, weight) in weights.enumerated() {
                        weight.value.scalars.withUnsafeBufferPointer { matrix in
                            stridedGemm(transposeB: true, m: rows, n: inputWidths[layer], k: widths[layer],
                                        a: dzBuffer.baseAddress! + offsets[layer], lda: totalWidth,
                                        b: matrix.baseAddress!, ldb: widths[layer],
                                        c: dx.baseAddress! + inputOffsets[layer], ldc: inputStride,
                                        accumulate: accumulate)
                        }
                    }
                }
                if x.gradient == nil && inputOffset == 0 && inputOffsets.last! == inputStride {
                    x.accumulate(Tensor(shape: x.shape) { addInputGradients(into: $0, accumulate: false) })
                } else {
                    x.withGradientBuffer { addInputGradients(into: $0, accumulate: true) }
                }
            }
            x.value.scalars.withUnsafeBufferPointer { input in
                for (layer, weight) in weights.enumerated() where weight.requiresGradient {
                    let dw = Tensor(shape: weight.shape) { dw in
                        stridedGemm(transposeA: true, m: inputWidths[layer], n: widths[layer], k: rows,
                                    a: input.baseAddress! + inputOffsets[layer], lda: inputStride,
                                    b: dzBuffer.baseAddress! + offsets[layer], ldb: totalWidth,
                                    c: dw.baseAddress!, ldc: widths[layer], accumulate: false)
                    }
                    weight.accumulate(dw)
                }
            }
            for (layer, bias) in biases.enumerated() where bias.requiresGradient {
                var db = Tensor(zeros: [widths[layer]])
                db.scalars.withUnsafeMutableBufferPointer { sums in
                    addColumnSums(dzBuffer.baseAddress! + offsets[layer], rows: rows, width: widths[layer],
                                  stride: totalWidth, into: sums.baseAddress!)
                }
                bias.accumulate(db)
            }
        }
    }
}
