/// Returns `y_b = x_b · S_b` for every row b, where the K×K core `S_b = reshape(c_b · W + s, [K, K])`
/// is generated from the row's condition, without forming the B cores.
///
/// - Parameters:
///   - x: `[B, K]`.
///   - condition: `[B, C]`.
///   - weight: `[C, K·K]`, the generator's weight; row j reshaped is a K×K matrix W_j.
///   - bias: `[K·K]`, the generator's bias; reshaped it is the K×K matrix s.
/// - Returns: `[B, K]`, equal to `batchedMatmul(reshape(x, [B, 1, K]), reshape(linear(c, W, s), [B, K, K]))`.
///
/// Two exact ways, chosen by the condition's values:
/// - When the condition has few distinct rows (at most `maximumCoreGroups(rows:)`, compared bit
///   for bit), as a scene embedding has, each distinct core is formed once and its rows run as one
///   GEMM (`groupedCoreProduct`).
/// - Otherwise through the outer product `a_b = c_b ⊗ x_b` (`outerCoreProduct`).
/// In both, the condition's gradient is per row: `dc_bj = x_b · W_j · dy_bᵀ`.
public func generatedCoreProduct(_ x: Variable, condition: Variable, weight: Variable, bias: Variable) -> Variable {
    generatedCoreProduct(x, condition: condition, weight: weight, bias: bias,
                         maximumGroups: maximumCoreGroups(rows: x.shape[0]))
}

/// Returns the largest number of distinct condition rows for which `generatedCoreProduct` forms
/// the cores per group. Groups average eight or more rows and number at most 64, so each group's
/// GEMM is worth its call and the row comparison stays cheap.
///
/// NOTE: both bounds are estimates, not tuned: only the 5-scene KuaiRand batches were timed.
func maximumCoreGroups(rows: Int) -> Int {
    min(64, rows / 8)
}

/// `generatedCoreProduct` with the group limit given: 0 always takes the outer-product way.
func generatedCoreProduct(_ x: Variable, condition: Variable, weight: Variable, bias: Variable,
                          maximumGroups: Int) -> Variable {
    precondition(x.value.rank == 2 && condition.value.rank == 2,
                 "generatedCoreProduct needs x [B, K] and condition [B, C], got \(x.shape) and \(condition.shape)")
    let rows = x.shape[0]
    let rank = x.shape[1]
    let conditionWidth = condition.shape[1]
    precondition(condition.shape[0] == rows,
                 "generatedCoreProduct condition has \(condition.shape[0]) rows, x has \(rows)")
    precondition(weight.shape == [conditionWidth, rank * rank],
                 "generatedCoreProduct weight must be [\(conditionWidth), \(rank * rank)], got \(weight.shape)")
    precondition(bias.shape == [rank * rank],
                 "generatedCoreProduct bias must be [\(rank * rank)], got \(bias.shape)")
    if maximumGroups > 0, let grouping = identicalRowGroups(condition.value, maximumGroups: maximumGroups) {
        return groupedCoreProduct(x, condition: condition, weight: weight, bias: bias, grouping: grouping)
    }
    return outerCoreProduct(x, condition: condition, weight: weight, bias: bias)
}

/// `generatedCoreProduct` through the outer product.
///
/// Since `y_b = Σ_j c_bj · x_b · W_j + x_b · s`, the product is linear in the outer product
/// `a_b = c_b ⊗ x_b` (`a_b[j·K + p] = c_bj · x_bp`, `[B, C·K]`), and W read as `[C·K, K]` is its
/// weight: `y = a · W + x · s`, two GEMMs. Backward is three more:
/// `dW = aᵀ · dy`, `ds = xᵀ · dy`, `da = dy · Wᵀ`, and then per row `dx_bp = Σ_j c_bj · da_b[j·K + p]
/// + (dy · sᵀ)_bp` and `dc_bj = Σ_p x_bp · da_b[j·K + p]`.
///
/// The products cost the same as forming the cores (`2·B·C·K²` each way), but the intermediate is
/// `[B, C·K]` instead of `[B, K·K]`, and there is no per-row GEMM call. It pays when C < K; for a
/// condition wider than K, forming the cores takes less memory.
func outerCoreProduct(_ x: Variable, condition: Variable, weight: Variable, bias: Variable) -> Variable {
    let rows = x.shape[0]
    let rank = x.shape[1]
    let conditionWidth = condition.shape[1]
    let outerWidth = conditionWidth * rank

    // a [B, C·K]: a[b, j·K + p] = c[b, j] · x[b, p].
    let outer = x.value.scalars.withUnsafeBufferPointer { input in
        condition.value.scalars.withUnsafeBufferPointer { conditions in
            Tensor(shape: [rows, outerWidth]) { outer in
                for row in 0..<rows {
                    let xRow = input.baseAddress! + row * rank
                    for j in 0..<conditionWidth {
                        writeScaled(xRow, scale: conditions[row * conditionWidth + j],
                                    into: outer.baseAddress! + row * outerWidth + j * rank, count: rank)
                    }
                }
            }
        }
    }

    let value = outer.scalars.withUnsafeBufferPointer { outerRows in
        x.value.scalars.withUnsafeBufferPointer { input in
            weight.value.scalars.withUnsafeBufferPointer { weights in
                bias.value.scalars.withUnsafeBufferPointer { core in
                    Tensor(shape: [rows, rank]) { output in
                        stridedGemm(m: rows, n: rank, k: outerWidth, a: outerRows.baseAddress!, lda: outerWidth,
                                    b: weights.baseAddress!, ldb: rank, c: output.baseAddress!, ldc: rank,
                                    accumulate: false)
                        stridedGemm(m: rows, n: rank, k: rank, a: input.baseAddress!, lda: rank,
                                    b: core.baseAddress!, ldb: rank, c: output.baseAddress!, ldc: rank,
                                    accumulate: true)
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
                        stridedGemm(transposeA: true, m: outerWidth, n: rank, k: rows, a: outerRows.baseAddress!,
                                    lda: outerWidth, b: dy.baseAddress!, ldb: rank, c: dw.baseAddress!, ldc: rank,
                                    accumulate: false)
                    }
                }
                weight.accumulate(dw)
            }
            if bias.requiresGradient {
                let ds = x.value.scalars.withUnsafeBufferPointer { input in
                    Tensor(shape: bias.shape) { ds in
                        stridedGemm(transposeA: true, m: rank, n: rank, k: rows, a: input.baseAddress!, lda: rank,
                                    b: dy.baseAddress!, ldb: rank, c: ds.baseAddress!, ldc: rank, accumulate: false)
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
                                stridedGemm(transposeB: true, m: rows, n: rank, k: rank, a: dy.baseAddress!, lda: rank,
                                            b: core.baseAddress!, ldb: rank, c: dx.baseAddress!, ldc: rank,
                                            accumulate: false)
                                for row in 0..<rows {
                                    let destination = dx.baseAddress! + row * rank
                                    for j in 0..<conditionWidth {
                                        addScaled(daRows.baseAddress! + row * outerWidth + j * rank,
                                                  scale: conditions[row * conditionWidth + j], into: destination,
                                                  count: rank)
                                    }
                                }
                            }
                        }
                    }
                    x.accumulate(dx)
                }
            }
            if condition.requiresGradient {
                condition.accumulate(conditionGradient(outerGradient: da, x: x.value))
            }
        }
    }
}

/// Returns `da = dy · Wᵀ` `[B, C·K]` for `dy` `[B, K]` and W `[C, K·K]` read as `[C·K, K]`: the
/// gradient of the outer product `a_b = c_b ⊗ x_b`.
func outerGradient(_ dy: Tensor, weight: Tensor) -> Tensor {
    let rows = dy.shape[0]
    let rank = dy.shape[1]
    let outerWidth = weight.shape[0] * rank
    return dy.scalars.withUnsafeBufferPointer { gradient in
        weight.scalars.withUnsafeBufferPointer { weights in
            Tensor(shape: [rows, outerWidth]) { da in
                stridedGemm(transposeB: true, m: rows, n: outerWidth, k: rank, a: gradient.baseAddress!, lda: rank,
                            b: weights.baseAddress!, ldb: rank, c: da.baseAddress!, ldc: outerWidth, accumulate: false)
            }
        }
    }
}

/// Returns the condition's gradient `dc_bj = Σ_p x_bp · da_b[j·K + p]` `[B, C]` from the outer
/// product's gradient `da` `[B, C·K]` and `x` `[B, K]`.
func conditionGradient(outerGradient da: Tensor, x: Tensor) -> Tensor {
    let rows = x.shape[0]
    let rank = x.shape[1]
    let conditionWidth = rank == 0 ? 0 : da.shape[1] / rank
    return da.scalars.withUnsafeBufferPointer { daRows in
        x.scalars.withUnsafeBufferPointer { input in
            Tensor(shape: [rows, conditionWidth]) { dc in
                for row in 0..<rows {
                    for j in 0..<conditionWidth {
                        dc[row * conditionWidth + j] = dotProduct(input.baseAddress! + row * rank,
                                                                  daRows.baseAddress! + (row * conditionWidth + j) * rank,
                                                                  count: rank)
                    }
                }
            }
        }
    }
}
