/// Returns `y_b = x_b · S_b` for every row b, where the N×M core `S_b = reshape(c_b · W + s, [N, M])`
/// is generated from the row's condition, without forming the B cores.
///
/// - Parameters:
///   - x: `[B, N]`, or `[B, K, N]` where all K vectors of row b share the core `S_b`.
///   - condition: `[B, C]`.
///   - weight: `[C, N·M]`, the generator's weight; row j reshaped is an N×M matrix W_j.
///   - bias: `[N·M]`, the generator's bias; reshaped it is the N×M matrix s.
/// - Returns: `[B, M]` (or `[B, K, M]`), equal to
///   `batchedMatmul(reshape(x, [B, K, N]), reshape(linear(c, W, s), [B, N, M]))` with K = 1 for a matrix x.
///
/// Two exact ways, chosen by the condition's values:
/// - When the condition has few distinct rows (at most `maximumCoreGroups(rows:)`, compared bit
///   for bit), as a scene embedding has, each distinct core is formed once and its rows' vectors run
///   as one GEMM (`groupedCoreProduct`).
/// - Otherwise through the outer product `a_bk = c_b ⊗ x_bk` (`outerCoreProduct`).
/// In both, the condition's gradient is per row: `dc_bj = Σ_k x_bk · W_j · dy_bkᵀ`.
public func generatedCoreProduct(_ x: Variable, condition: Variable, weight: Variable, bias: Variable) -> Variable {
    generatedCoreProduct(x, condition: condition, weight: weight, bias: bias,
                         maximumGroups: maximumCoreGroups(rows: condition.shape[0]))
}

/// Returns the largest number of distinct condition rows for which `generatedCoreProduct` forms
/// the cores per group. Groups average eight or more rows and number at most 64, so each group's
/// GEMM is worth its call and the row comparison stays cheap.
///
/// NOTE: both bounds are estimates, not tuned: only the 5-scene KuaiRand batches were timed.
func maximumCoreGroups(rows: Int) -> Int {
    min(64, rows / 8)
}

/// Returns whether `generatedCoreProduct` takes the grouped way for `condition` `[B, C]`: whether
/// it has at most `maximumCoreGroups(rows:)` distinct rows. A caller with K > 1 vectors per row
/// can form the cores itself otherwise, since the outer-product way then costs K times more.
public func generatedCoreProductGroupsRows(of condition: Tensor) -> Bool {
    identicalRowGroups(condition, maximumGroups: maximumCoreGroups(rows: condition.shape[0])) != nil
}

/// `generatedCoreProduct` with the group limit given: 0 always takes the outer-product way.
func generatedCoreProduct(_ x: Variable, condition: Variable, weight: Variable, bias: Variable,
                          maximumGroups: Int) -> Variable {
    precondition((x.value.rank == 2 || x.value.rank == 3) && condition.value.rank == 2,
                 "generatedCoreProduct needs x [B, N] or [B, K, N] and condition [B, C], got \(x.shape) and \(condition.shape)")
    let rows = x.shape[0]
    let inputWidth = x.shape.last!
    let conditionWidth = condition.shape[1]
    precondition(condition.shape[0] == rows,
                 "generatedCoreProduct condition has \(condition.shape[0]) rows, x has \(rows)")
    precondition(weight.value.rank == 2 && weight.shape[0] == conditionWidth && inputWidth > 0
                    && weight.shape[1] % inputWidth == 0,
                 "generatedCoreProduct weight must be [\(conditionWidth), \(inputWidth)·M], got \(weight.shape)")
    let outputWidth = weight.shape[1] / inputWidth
    precondition(bias.shape == [inputWidth * outputWidth],
                 "generatedCoreProduct bias must be [\(inputWidth * outputWidth)], got \(bias.shape)")

    let vectorsPerRow = x.value.rank == 3 ? x.shape[1] : 1
    let vectors = x.value.rank == 3 ? reshape(x, [rows * vectorsPerRow, inputWidth]) : x
    let product: Variable
    if maximumGroups > 0, let grouping = identicalRowGroups(condition.value, maximumGroups: maximumGroups) {
        product = groupedCoreProduct(vectors, condition: condition, weight: weight, bias: bias, grouping: grouping)
    } else {
        product = outerCoreProduct(vectors, condition: condition, weight: weight, bias: bias)
    }
    return x.value.rank == 3 ? reshape(product, [rows, vectorsPerRow, outputWidth]) : product
}

/// `generatedCoreProduct` through the outer product, for x `[B·K, N]` whose K consecutive vectors
/// belong to one condition row.
///
/// Since `y_bk = Σ_j c_bj · x_bk · W_j + x_bk · s`, the product is linear in the outer product
/// `a_bk = c_b ⊗ x_bk` (`a_bk[j·N + p] = c_bj · x_bkp`, `[B·K, C·N]`), and W read as `[C·N, M]` is
/// its weight: `y = a · W + x · s`, two GEMMs. Backward is three more:
/// `dW = aᵀ · dy`, `ds = xᵀ · dy`, `da = dy · Wᵀ`, and then per vector `dx_bkp = Σ_j c_bj · da_bk[j·N + p]
/// + (dy · sᵀ)_bkp` and `dc_bj = Σ_k Σ_p x_bkp · da_bk[j·N + p]`.
///
/// The products cost `2·B·K·C·N·M` each, against `2·B·C·N·M` for forming the cores, but the
/// intermediate is `[B·K, C·N]` instead of `[B, N·M]`, and there is no per-row GEMM call. It pays
/// when K = 1 and C < M; otherwise forming the cores takes less memory or fewer operations.
func outerCoreProduct(_ x: Variable, condition: Variable, weight: Variable, bias: Variable) -> Variable {
    let vectorCount = x.shape[0]
    let inputWidth = x.shape[1]
    let conditionWidth = condition.shape[1]
    let vectorsPerRow = vectorCount / max(condition.shape[0], 1)
    let outputWidth = weight.shape[1] / inputWidth
    let outerWidth = conditionWidth * inputWidth

    // a [B·K, C·N]: a[v, j·N + p] = c[v / K, j] · x[v, p].
    let outer = x.value.scalars.withUnsafeBufferPointer { input in
        condition.value.scalars.withUnsafeBufferPointer { conditions in
            Tensor(shape: [vectorCount, outerWidth]) { outer in
                for vector in 0..<vectorCount {
                    let xRow = input.baseAddress! + vector * inputWidth
                    let conditionRow = (vector / vectorsPerRow) * conditionWidth
                    for j in 0..<conditionWidth {
                        writeScaled(xRow, scale: conditions[conditionRow + j],
                                    into: outer.baseAddress! + vector * outerWidth + j * inputWidth, count: inputWidth)
                    }
                }
            }
        }
    }

    let value = outer.scalars.withUnsafeBufferPointer { outerRows in
        x.value.scalars.withUnsafeBufferPointer { input in
            weight.value.scalars.withUnsafeBufferPointer { weights in
                bias.value.scalars.withUnsafeBufferPointer { core in
                    Tensor(shape: [vectorCount, outputWidth]) { output in
                        stridedGemm(m: vectorCount, n: outputWidth, k: outerWidth, a: outerRows.baseAddress!,
                                    lda: outerWidth, b: weights.baseAddress!, ldb: outputWidth,
                                    c: output.baseAddress!, ldc: outputWidth, accumulate: false)
                        stridedGemm(m: vectorCount, n: outputWidth, k: inputWidth, a: input.baseAddress!,
                                    lda: inputWidth, b: core.baseAddress!, ldb: outputWidth,
                                    c: output.baseAddress!, ldc: outputWidth, accumulate: true)
                    }
                }
            }
        }
    }

    return x.graph.record(value, inputs: [x, condition, weight, bias]) { outputGradient in
        outputGradient.scalars.withUnsafeBufferPointer { dy in
            if weight.requiresGradient {
                let dw = outer.scalars.withUnsafeBufferPointer { outerRows in
                    Tensor(shape: weight.shape) { dw in
                        stridedGemm(transposeA: true, m: outerWidth, n: outputWidth, k: vectorCount,
                                    a: outerRows.baseAddress!, lda: outerWidth, b: dy.baseAddress!, ldb: outputWidth,
                                    c: dw.baseAddress!, ldc: outputWidth, accumulate: false)
                    }
                }
                weight.accumulate(dw)
            }
            if bias.requiresGradient {
                let ds = x.value.scalars.withUnsafeBufferPointer { input in
                    Tensor(shape: bias.shape) { ds in
                        stridedGemm(transposeA: true, m: inputWidth, n: outputWidth, k: vectorCount,
                                    a: input.baseAddress!, lda: inputWidth, b: dy.baseAddress!, ldb: outputWidth,
                                    c: ds.baseAddress!, ldc: outputWidth, accumulate: false)
                    }
                }
                bias.accumulate(ds)
            }
            guard x.requiresGradient || condition.requiresGradient else { return }

            let da = outerGradient(outputGradient, weight: weight.value)
            da.scalars.withUnsafeBufferPointer { daRows in
                if x.requiresGradient {
                    let dx = bias.value.scalars.withUnsafeBufferPointer { core in
                        condition.value.scalars.withUnsafeBufferPointer { conditions in
                            Tensor(shape: x.shape) { dx in
                                stridedGemm(transposeB: true, m: vectorCount, n: inputWidth, k: outputWidth,
                                            a: dy.baseAddress!, lda: outputWidth, b: core.baseAddress!,
                                            ldb: outputWidth, c: dx.baseAddress!, ldc: inputWidth, accumulate: false)
                                for vector in 0..<vectorCount {
                                    let destination = dx.baseAddress! + vector * inputWidth
                                    let conditionRow = (vector / vectorsPerRow) * conditionWidth
                                    for j in 0..<conditionWidth {
                                        addScaled(daRows.baseAddress! + vector * outerWidth + j * inputWidth,
                                                  scale: conditions[conditionRow + j], into: destination,
                                                  count: inputWidth)
                                    }
                                }
                            }
                        }
                    }
                    x.accumulate(dx)
                }
            }
            if condition.requiresGradient {
                condition.accumulate(conditionGradient(outerGradient: da, x: x.value, rows: condition.shape[0]))
            }
        }
    }
}

/// Returns `da = dy · Wᵀ` `[B·K, C·N]` for `dy` `[B·K, M]` and W `[C, N·M]` read as `[C·N, M]`: the
/// gradient of the outer product `a_bk = c_b ⊗ x_bk`.
func outerGradient(_ dy: Tensor, weight: Tensor) -> Tensor {
    let vectorCount = dy.shape[0]
    let outputWidth = dy.shape[1]
    let outerWidth = outputWidth == 0 ? 0 : weight.count / outputWidth
    return dy.scalars.withUnsafeBufferPointer { gradient in
        weight.scalars.withUnsafeBufferPointer { weights in
            Tensor(shape: [vectorCount, outerWidth]) { da in
                stridedGemm(transposeB: true, m: vectorCount, n: outerWidth, k: outputWidth, a: gradient.baseAddress!,
                            lda: outputWidth, b: weights.baseAddress!, ldb: outputWidth, c: da.baseAddress!,
                            ldc: outerWidth, accumulate: false)
            }
        }
    }
}

/// Returns the condition's gradient `dc_bj = Σ_k Σ_p x_bkp · da_bk[j·N + p]` `[B, C]` from the
/// outer product's gradient `da` `[B·K, C·N]` and `x` `[B·K, N]`.
func conditionGradient(outerGradient da: Tensor, x: Tensor, rows: Int) -> Tensor {
    let vectorCount = x.shape[0]
    let inputWidth = x.shape[1]
    let conditionWidth = inputWidth == 0 ? 0 : da.shape[1] / inputWidth
    let vectorsPerRow = vectorCount / max(rows, 1)
    return da.scalars.withUnsafeBufferPointer { daRows in
        x.scalars.withUnsafeBufferPointer { input in
            Tensor(shape: [rows, conditionWidth]) { dc in
                dc.update(repeating: 0)
                for vector in 0..<vectorCount {
                    let conditionRow = (vector / vectorsPerRow) * conditionWidth
                    for j in 0..<conditionWidth {
                        dc[conditionRow + j] += dotProduct(input.baseAddress! + vector * inputWidth,
                                                           daRows.baseAddress! + (vector * conditionWidth + j) * inputWidth,
                                                           count: inputWidth)
                    }
                }
            }
        }
    }
}
