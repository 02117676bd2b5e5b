/// Returns `activation(x[b] · weights[g] + bias[g])` for every row b, where g is b's group in
/// `groups`: a dense layer whose weights are chosen per row, such as one weight matrix per scene.
///
/// - Parameters:
///   - x: `[B, N]`.
///   - weights: `[G, N, M]`, one input-major matrix per group.
///   - bias: `[G, M]` or nil.
///   - groups: the group of each of the B rows.
/// - Returns: `[B, M]`; row b is the result for input row b, whatever the order of the groups.
///
/// Each group runs as one GEMM over its packed rows, and the results are written back to the
/// rows' own positions. Scratch memory is O(B·(N + M)) for the largest group, never a per-row
/// `[B, N, M]` weight tensor. Backward reads the same packing: `dx[b] = dz[b] · weights[g]ᵀ`,
/// `dweights[g] = Σ_{b in g} x[b]ᵀ · dz[b]` and `dbias[g] = Σ_{b in g} dz[b]`, with `dz` the
/// gradient before the activation. A group without rows gets zero weight and bias gradients.
public func groupedLinear(_ x: Variable, weights: Variable, bias: Variable?, groups: RowGroups,
                          activation: FusedActivation = .identity) -> Variable {
    precondition(x.value.rank == 2 && weights.value.rank == 3,
                 "groupedLinear needs x [B, N] and weights [G, N, M], got \(x.shape) and \(weights.shape)")
    let rows = x.shape[0]
    let inputWidth = x.shape[1]
    let groupCount = weights.shape[0]
    let outputWidth = weights.shape[2]
    precondition(weights.shape[1] == inputWidth,
                 "groupedLinear weights must be [G, \(inputWidth), M] for x \(x.shape), got \(weights.shape)")
    precondition(groups.groupCount == groupCount && groups.rowCount == rows,
                 "groupedLinear groups cover \(groups.rowCount) rows in \(groups.groupCount) groups, "
                 + "expected \(rows) rows in \(groupCount) groups")
    if let bias {
        precondition(bias.shape == [groupCount, outputWidth],
                     "groupedLinear bias must be [\(groupCount), \(outputWidth)], got \(bias.shape)")
    }
    let matrixCount = inputWidth * outputWidth
    let largestGroup = (0..<groupCount).map { groups.offsets[$0 + 1] - groups.offsets[$0] }.max() ?? 0

    // Packed rows of one group: its inputs [n, N] and its outputs [n, M].
    let packedInput = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(largestGroup * inputWidth, 1))
    let packedOutput = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(largestGroup * outputWidth, 1))
    defer {
        packedInput.deallocate()
        packedOutput.deallocate()
    }

    // Every row lies in exactly one group, so the group loop writes every output element.
    let value = x.value.scalars.withUnsafeBufferPointer { input in
        weights.value.scalars.withUnsafeBufferPointer { matrices in
            Tensor(shape: [rows, outputWidth]) { output in
                for group in 0..<groupCount {
                    let members = groups.rows(ofGroup: group)
                    guard !members.isEmpty else { continue }
                    packRows(input, rows: members, width: inputWidth, into: packedInput)
                    if let bias {
                        for packed in 0..<members.count {
                            for column in 0..<outputWidth {
                                packedOutput[packed * outputWidth + column] =
                                    bias.value.scalars[group * outputWidth + column]
                            }
                        }
                    }
                    gemm(transposeA: false, transposeB: false, m: members.count, n: outputWidth, k: inputWidth,
                         a: packedInput.baseAddress!, b: matrices.baseAddress! + group * matrixCount,
                         c: packedOutput.baseAddress!, accumulate: bias != nil)
                    applyActivation(activation, to: UnsafeMutableBufferPointer(rebasing: packedOutput[0..<(members.count * outputWidth)]))
                    unpackRows(UnsafeBufferPointer(packedOutput), rows: members, width: outputWidth, into: output)
                }
            }
        }
    }

    let inputs = bias.map { [x, weights, $0] } ?? [x, weights]
    return x.graph.record(value, inputs: inputs) { outputGradient in
        // dz: the gradient before the activation, [B, M].
        let dz = activationGradient(activation, outputGradient, output: value)
        var dx = Tensor(zeros: x.requiresGradient ? x.shape : [0])
        var dweights = Tensor(zeros: weights.requiresGradient ? weights.shape : [0])
        var dbias = Tensor(zeros: bias?.requiresGradient == true ? [groupCount, outputWidth] : [0])

        // The forward's scratch buffers are freed by now, so backward allocates its own.
        let packedInput = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(largestGroup * inputWidth, 1))
        let packedGradient = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(largestGroup * outputWidth, 1))
        let packedInputGradient = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(largestGroup * inputWidth, 1))
        defer {
            packedInput.deallocate()
            packedGradient.deallocate()
            packedInputGradient.deallocate()
        }
        dz.scalars.withUnsafeBufferPointer { dzRows in
            x.value.scalars.withUnsafeBufferPointer { input in
                weights.value.scalars.withUnsafeBufferPointer { matrices in
                    dx.scalars.withUnsafeMutableBufferPointer { dxRows in
                        dweights.scalars.withUnsafeMutableBufferPointer { dmatrices in
                            for group in 0..<groupCount {
                                let members = groups.rows(ofGroup: group)
                                guard !members.isEmpty else { continue }
                                packRows(dzRows, rows: members, width: outputWidth, into: packedGradient)
                                if x.requiresGradient {
                                    gemmGradientA(transposeA: false, transposeB: false, m: members.count,
                                                  n: outputWidth, k: inputWidth, dc: packedGradient.baseAddress!,
                                                  b: matrices.baseAddress! + group * matrixCount,
                                                  da: packedInputGradient.baseAddress!, accumulate: false)
                                    unpackRows(UnsafeBufferPointer(packedInputGradient), rows: members,
                                               width: inputWidth, into: dxRows)
                                }
                                if weights.requiresGradient {
                                    packRows(input, rows: members, width: inputWidth, into: packedInput)
                                    gemmGradientB(transposeA: false, transposeB: false, m: members.count,
                                                  n: outputWidth, k: inputWidth, dc: packedGradient.baseAddress!,
                                                  a: packedInput.baseAddress!,
                                                  db: dmatrices.baseAddress! + group * matrixCount, accumulate: false)
                                }
                                if bias?.requiresGradient == true {
                                    for packed in 0..<members.count {
                                        for column in 0..<outputWidth {
                                            dbias.scalars[group * outputWidth + column] +=
                                                packedGradient[packed * outputWidth + column]
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        if x.requiresGradient { x.accumulate(dx) }
        if weights.requiresGradient { weights.accumulate(dweights) }
        if let bias, bias.requiresGradient { bias.accumulate(dbias) }
    }
}
