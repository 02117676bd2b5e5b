/// The rows of a matrix grouped by equal values, compared bit for bit.
struct IdenticalRows {
    /// Row b's group is the index of the first row equal to it among `firstRows`.
    let groups: RowGroups
    /// The first row of each group, `[G]`, in order of appearance.
    let firstRows: [Int]
}

/// Groups the rows of `matrix` `[B, C]` that are equal bit for bit, or returns nil when there are
/// more than `maximumGroups` distinct rows (or no rows).
///
/// Each row is compared with the row that started its predecessor's group first, then with every
/// group: O(B·G·C) at worst, and O(B·C) for rows sorted or runs of one value. Comparing bit
/// patterns keeps the grouping exact: rows that merely compare equal as numbers (0 and −0) stay
/// apart, and a NaN row matches only a row with the same bits.
func identicalRowGroups(_ matrix: Tensor, maximumGroups: Int) -> IdenticalRows? {
    precondition(matrix.rank == 2, "identicalRowGroups needs a matrix [B, C], got \(matrix.shape)")
    let rows = matrix.shape[0]
    let width = matrix.shape[1]
    guard rows > 0, maximumGroups > 0 else { return nil }
    var keys = [Int32](repeating: 0, count: rows)
    var firstRows: [Int] = []
    let fits = matrix.scalars.withUnsafeBufferPointer { values -> Bool in
        func equal(_ a: Int, _ b: Int) -> Bool {
            let left = values.baseAddress! + a * width
            let right = values.baseAddress! + b * width
            for column in 0..<width where left[column].bitPattern != right[column].bitPattern { return false }
            return true
        }
        var previous = 0
        for row in 0..<rows {
            if !firstRows.isEmpty && equal(row, firstRows[previous]) {
                keys[row] = Int32(previous)
                continue
            }
            if let group = firstRows.firstIndex(where: { equal(row, $0) }) {
                previous = group
            } else {
                guard firstRows.count < maximumGroups else { return false }
                firstRows.append(row)
                previous = firstRows.count - 1
            }
            keys[row] = Int32(previous)
        }
        return true
    }
    guard fits else { return nil }
    return IdenticalRows(groups: RowGroups(keys: keys, groupCount: firstRows.count), firstRows: firstRows)
}

/// `generatedCoreProduct` for a condition with G distinct rows: the G cores `S_g = c_g · W + s`
/// `[G, K·K]` are formed once, and each group's rows, packed in group order, are one GEMM
/// `y_g = x_g · S_g`.
///
/// Backward: `dS_g = x_gᵀ · dy_g`, `ds = Σ_g dS_g`, `dW = Σ_g c_gᵀ · dS_g` (one GEMM over the
/// G condition rows), and `dx_g = dy_g · S_gᵀ`. The condition's gradient stays per row, as in
/// `outerCoreProduct`: rows that share a value still get their own gradients.
func groupedCoreProduct(_ x: Variable, condition: Variable, weight: Variable, bias: Variable,
                        grouping: IdenticalRows) -> Variable {
    let rows = x.shape[0]
    let rank = x.shape[1]
    let conditionWidth = condition.shape[1]
    let coreSize = rank * rank
    let groupCount = grouping.firstRows.count
    let order = grouping.groups.order
    let offsets = grouping.groups.offsets

    // c_g [G, C], the condition row of each group.
    let representatives = condition.value.scalars.withUnsafeBufferPointer { conditions in
        Tensor(shape: [groupCount, conditionWidth]) { representatives in
            for (group, row) in grouping.firstRows.enumerated() {
                (representatives.baseAddress! + group * conditionWidth)
                    .update(from: conditions.baseAddress! + row * conditionWidth, count: conditionWidth)
            }
        }
    }
    // S_g [G, K·K].
    let cores = representatives.scalars.withUnsafeBufferPointer { conditions in
        weight.value.scalars.withUnsafeBufferPointer { weights in
            bias.value.scalars.withUnsafeBufferPointer { core in
                Tensor(shape: [groupCount, coreSize]) { cores in
                    fillRows(cores.baseAddress!, rows: groupCount, width: coreSize, stride: coreSize,
                             with: core.baseAddress!)
                    stridedGemm(m: groupCount, n: coreSize, k: conditionWidth, a: conditions.baseAddress!,
                                lda: conditionWidth, b: weights.baseAddress!, ldb: coreSize, c: cores.baseAddress!,
                                ldc: coreSize, accumulate: true)
                }
            }
        }
    }
    let packedX = permuteRows(x.value, order: order)

    /// Runs `body(group, firstPackedRow, rowCount)` for every group.
    func forEachGroup(_ body: (Int, Int, Int) -> Void) {
        for group in 0..<groupCount {
            body(group, offsets[group], offsets[group + 1] - offsets[group])
        }
    }

    let packedY = packedX.scalars.withUnsafeBufferPointer { input in
        cores.scalars.withUnsafeBufferPointer { coreValues in
            Tensor(shape: [rows, rank]) { output in
                forEachGroup { group, start, count in
                    stridedGemm(m: count, n: rank, k: rank, a: input.baseAddress! + start * rank, lda: rank,
                                b: coreValues.baseAddress! + group * coreSize, ldb: rank,
                                c: output.baseAddress! + start * rank, ldc: rank, accumulate: false)
                }
            }
        }
    }
    let value = unpermuteRows(packedY, order: order)

    return x.graph.record(value, inputs: [x, condition, weight, bias]) { outputGradient in
        let packedDY = permuteRows(outputGradient, order: order)
        packedDY.scalars.withUnsafeBufferPointer { dy in
            if weight.requiresGradient || bias.requiresGradient {
                // dS_g [G, K·K].
                let coreGradients = packedX.scalars.withUnsafeBufferPointer { input in
                    Tensor(shape: [groupCount, coreSize]) { ds in
                        forEachGroup { group, start, count in
                            stridedGemm(transposeA: true, m: rank, n: rank, k: count,
                                        a: input.baseAddress! + start * rank, lda: rank,
                                        b: dy.baseAddress! + start * rank, ldb: rank,
                                        c: ds.baseAddress! + group * coreSize, ldc: rank, accumulate: false)
                        }
                    }
                }
                coreGradients.scalars.withUnsafeBufferPointer { ds in
                    if bias.requiresGradient {
                        var total = Tensor(zeros: bias.shape)
                        total.scalars.withUnsafeMutableBufferPointer { sums in
                            addColumnSums(ds.baseAddress!, rows: groupCount, width: coreSize, stride: coreSize,
                                          into: sums.baseAddress!)
                        }
                        bias.accumulate(total)
                    }
                    if weight.requiresGradient {
                        let dw = representatives.scalars.withUnsafeBufferPointer { conditions in
                            Tensor(shape: weight.shape) { dw in
                                stridedGemm(transposeA: true, m: conditionWidth, n: coreSize, k: groupCount,
                                            a: conditions.baseAddress!, lda: conditionWidth, b: ds.baseAddress!,
                                            ldb: coreSize, c: dw.baseAddress!, ldc: coreSize, accumulate: false)
                            }
                        }
                        weight.accumulate(dw)
                    }
                }
            }
            if x.requiresGradient {
                let packedDX = cores.scalars.withUnsafeBufferPointer { coreValues in
                    Tensor(shape: [rows, rank]) { dx in
                        forEachGroup { group, start, count in
                            stridedGemm(transposeB: true, m: count, n: rank, k: rank,
                                        a: dy.baseAddress! + start * rank, lda: rank,
                                        b: coreValues.baseAddress! + group * coreSize, ldb: rank,
                                        c: dx.baseAddress! + start * rank, ldc: rank, accumulate: false)
                        }
                    }
                }
                x.accumulate(unpermuteRows(packedDX, order: order))
            }
        }
        if condition.requiresGradient {
            condition.accumulate(conditionGradient(outerGradient: outerGradient(outputGradient, weight: weight.value),
                                                   x: x.value))
        }
    }
}

/// Returns the rows of `matrix` `[B, N]` in the order `order` (a permutation of 0..<B): row p of
/// the result is row `order[p]`.
func permuteRows(_ matrix: Tensor, order: [Int]) -> Tensor {
    let width = matrix.shape[1]
    return matrix.scalars.withUnsafeBufferPointer { source in
        Tensor(shape: matrix.shape) { destination in
            for (packed, row) in order.enumerated() {
                (destination.baseAddress! + packed * width).update(from: source.baseAddress! + row * width, count: width)
            }
        }
    }
}

/// Returns the rows of `packed` put back in place, the inverse of `permuteRows`: row `order[p]`
/// of the result is row p of `packed`.
func unpermuteRows(_ packed: Tensor, order: [Int]) -> Tensor {
    let width = packed.shape[1]
    return packed.scalars.withUnsafeBufferPointer { source in
        Tensor(shape: packed.shape) { destination in
            for (packedRow, row) in order.enumerated() {
                (destination.baseAddress! + row * width).update(from: source.baseAddress! + packedRow * width, count: width)
            }
        }
    }
}
