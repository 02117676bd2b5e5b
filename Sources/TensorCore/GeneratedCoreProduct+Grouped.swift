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

/// `generatedCoreProduct` for a condition with G distinct rows, for x `[B·K, N]` whose K
/// consecutive vectors belong to one condition row: the G cores `S_g = c_g · W + s` `[G, N·M]` are
/// formed once, and the vectors of each group's rows, packed in group order, are one GEMM
/// `y_g = x_g · S_g`.
///
/// Backward: `dS_g = x_gᵀ · dy_g`, `ds = Σ_g dS_g`, `dW = Σ_g c_gᵀ · dS_g` (one GEMM over the
/// G condition rows), and `dx_g = dy_g · S_gᵀ`. The condition's gradient stays per row: rows
/// that share a value still get their own gradients, through each row's core gradient
/// (`rowCoreGradients`) or, as in `outerCoreProduct`, through the outer product's gradient.
func groupedCoreProduct(_ x: Variable, condition: Variable, weight: Variable, bias: Variable,
                        grouping: IdenticalRows) -> Variable {
    let vectorCount = x.shape[0]
    let inputWidth = x.shape[1]
    let rows = condition.shape[0]
    let conditionWidth = condition.shape[1]
    let vectorsPerRow = vectorCount / rows
    let outputWidth = weight.shape[1] / inputWidth
    let coreSize = inputWidth * outputWidth
    let groupCount = grouping.firstRows.count
    // The vectors of row b are b·K ..< (b + 1)·K, so a group's vectors follow its rows' order.
    let order = grouping.groups.order.flatMap { row in (row * vectorsPerRow)..<((row + 1) * vectorsPerRow) }
    let offsets = grouping.groups.offsets.map { $0 * vectorsPerRow }

    // c_g [G, C], the condition row of each group.
    let representatives = condition.value.scalars.withUnsafeBufferPointer { conditions in
        Tensor(shape: [groupCount, conditionWidth]) { representatives in
            for (group, row) in grouping.firstRows.enumerated() {
                (representatives.baseAddress! + group * conditionWidth)
                    .update(from: conditions.baseAddress! + row * conditionWidth, count: conditionWidth)
            }
        }
    }
    // S_g [G, N·M].
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

    /// Runs `body(group, firstPackedVector, vectorCount)` for every group.
    func forEachGroup(_ body: (Int, Int, Int) -> Void) {
        for group in 0..<groupCount {
            body(group, offsets[group], offsets[group + 1] - offsets[group])
        }
    }

    let packedY = packedX.scalars.withUnsafeBufferPointer { input in
        cores.scalars.withUnsafeBufferPointer { coreValues in
            Tensor(shape: [vectorCount, outputWidth]) { output in
                forEachGroup { group, start, count in
                    stridedGemm(m: count, n: outputWidth, k: inputWidth, a: input.baseAddress! + start * inputWidth,
                                lda: inputWidth, b: coreValues.baseAddress! + group * coreSize, ldb: outputWidth,
                                c: output.baseAddress! + start * outputWidth, ldc: outputWidth, accumulate: false)
                }
            }
        }
    }
    let value = unpermuteRows(packedY, order: order)

    return x.graph.record(value, inputs: [x, condition, weight, bias]) { outputGradient in
        let packedDY = permuteRows(outputGradient, order: order)
        packedDY.scalars.withUnsafeBufferPointer { dy in
            if weight.requiresGradient || bias.requiresGradient {
                // dS_g [G, N·M].
                let coreGradients = packedX.scalars.withUnsafeBufferPointer { input in
                    Tensor(shape: [groupCount, coreSize]) { ds in
                        forEachGroup { group, start, count in
                            stridedGemm(transposeA: true, m: inputWidth, n: outputWidth, k: count,
                                        a: input.baseAddress! + start * inputWidth, lda: inputWidth,
                                        b: dy.baseAddress! + start * outputWidth, ldb: outputWidth,
                                        c: ds.baseAddress! + group * coreSize, ldc: outputWidth, accumulate: false)
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
                    Tensor(shape: [vectorCount, inputWidth]) { dx in
                        forEachGroup { group, start, count in
                            stridedGemm(transposeB: true, m: count, n: inputWidth, k: outputWidth,
                                        a: dy.baseAddress! + start * outputWidth, lda: outputWidth,
                                        b: coreValues.baseAddress! + group * coreSize, ldb: outputWidth,
                                        c: dx.baseAddress! + start * inputWidth, ldc: inputWidth, accumulate: false)
                        }
                    }
                }
                x.accumulate(unpermuteRows(packedDX, order: order))
            }
        }
        guard condition.requiresGradient else { return }
        // Both ways cost the same; take the one with the smaller intermediate, `[B, N·M]` or `[B·K, C·N]`.
        if outputWidth < vectorsPerRow * conditionWidth {
            let coreGradients = rowCoreGradients(x: x.value, dy: outputGradient, rows: rows)
            condition.accumulate(conditionGradient(rowCoreGradients: coreGradients, weight: weight.value))
        } else {
            condition.accumulate(conditionGradient(outerGradient: outerGradient(outputGradient, weight: weight.value),
                                                   x: x.value, rows: rows))
        }
    }
}

/// Returns each row's core gradient `dS_b = Σ_k x_bkᵀ · dy_bk` `[B, N·M]` for x `[B·K, N]` and
/// dy `[B·K, M]`.
///
/// Then `dc_b = W · dS_b` costs `2·B·N·M·(K + C)`, against `2·B·K·C·N·M` through the outer
/// product's gradient `[B·K, C·N]`.
func rowCoreGradients(x: Tensor, dy: Tensor, rows: Int) -> Tensor {
    let inputWidth = x.shape[1]
    let outputWidth = dy.shape[1]
    let vectorsPerRow = x.shape[0] / rows
    let coreSize = inputWidth * outputWidth
    return x.scalars.withUnsafeBufferPointer { input in
        dy.scalars.withUnsafeBufferPointer { gradient in
            Tensor(shape: [rows, coreSize]) { ds in
                if vectorsPerRow == 1 {
                    // One outer product per row; a GEMM call each would cost more than its work.
                    for row in 0..<rows {
                        for p in 0..<inputWidth {
                            writeScaled(gradient.baseAddress! + row * outputWidth, scale: input[row * inputWidth + p],
                                        into: ds.baseAddress! + row * coreSize + p * outputWidth, count: outputWidth)
                        }
                    }
                    return
                }
                for row in 0..<rows {
                    let first = row * vectorsPerRow
                    stridedGemm(transposeA: true, m: inputWidth, n: outputWidth, k: vectorsPerRow,
                                a: input.baseAddress! + first * inputWidth, lda: inputWidth,
                                b: gradient.baseAddress! + first * outputWidth, ldb: outputWidth,
                                c: ds.baseAddress! + row * coreSize, ldc: outputWidth, accumulate: false)
                }
            }
        }
    }
}

/// Returns the condition's gradient `dc_bj = ⟨W_j, dS_b⟩` `[B, C]` from each row's core gradient
/// `dS` `[B, N·M]` and W `[C, N·M]`: one GEMM `dS · Wᵀ`.
func conditionGradient(rowCoreGradients ds: Tensor, weight: Tensor) -> Tensor {
    let rows = ds.shape[0]
    let coreSize = ds.shape[1]
    let conditionWidth = weight.shape[0]
    return ds.scalars.withUnsafeBufferPointer { gradients in
        weight.scalars.withUnsafeBufferPointer { weights in
            Tensor(shape: [rows, conditionWidth]) { dc in
                stridedGemm(transposeB: true, m: rows, n: conditionWidth, k: coreSize, a: gradients.baseAddress!,
                            lda: coreSize, b: weights.baseAddress!, ldb: coreSize, c: dc.baseAddress!,
                            ldc: conditionWidth, accumulate: false)
            }
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
