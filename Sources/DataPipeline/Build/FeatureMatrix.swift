/// Feature encoding through per-source tables of table rows. Each encoder is fitted and applied
/// once per row of the table its column is in, not once per log row. The log rows only copy
/// codes at the end.
///
/// Sources are the log (source 0) and the side tables (source 1 + join index). A side table
/// with R rows is joined to few log rows each (KuaiRand: 27k users for 228k log rows), so
/// counting train and test rows per side row first and then per value costs O(R) per feature.
enum FeatureMatrix {
    /// How many rows of one split use each row of a source table.
    struct SourceUse {
        /// Rows of the source table R.
        let rowCount: Int
        /// Number of train rows that read each source row, `[R]`.
        var train: [Int32]
        /// Number of test rows that read each source row, `[R]`.
        var test: [Int32]
        /// Train and test rows that have no source row (join key not found).
        var missingTrain = 0
        var missingTest = 0

        /// Counts the use of the log itself: every kept row uses its own row once.
        init(logRows: Int, trainRows: [Int], testRows: [Int]) {
            rowCount = logRows
            train = [Int32](repeating: 0, count: logRows)
            test = [Int32](repeating: 0, count: logRows)
            for row in trainRows { train[row] = 1 }
            for row in testRows { test[row] = 1 }
        }

        /// Counts the use of a side table with `sideRowCount` rows through the join
        /// `sideRowOfLogRow` (`[log rows]`, -1 where the key has no side row).
        init(sideRowCount: Int, sideRowOfLogRow: [Int32], trainRows: [Int], testRows: [Int]) {
            rowCount = sideRowCount
            train = [Int32](repeating: 0, count: sideRowCount)
            test = [Int32](repeating: 0, count: sideRowCount)
            for row in trainRows {
                let side = sideRowOfLogRow[row]
                if side < 0 { missingTrain += 1 } else { train[Int(side)] += 1 }
            }
            for row in testRows {
                let side = sideRowOfLogRow[row]
                if side < 0 { missingTest += 1 } else { test[Int(side)] += 1 }
            }
        }
    }

    /// One feature's table row for every row of its source, plus 0 at index R for split rows
    /// without a source row, `[R + 1]`.
    struct FeatureCodes {
        let source: Int
        let codes: [Int32]
        let report: FeatureReport
    }

    /// Fits the encoder of the column `raw` (value ids `[R]`, -1 where empty) on the train rows
    /// counted in `use`, and returns the codes and the feature report.
    static func encode(_ feature: FeatureConfig, source: Int, raw: RawColumn, use: SourceUse) -> FeatureCodes {
        precondition(raw.ids.count == use.rowCount, "expected \(use.rowCount) value ids, got \(raw.ids.count)")
        let valueCount = raw.values.count
        var trainCounts = [Int](repeating: 0, count: valueCount)
        var testCounts = [Int](repeating: 0, count: valueCount)
        var missingTrain = use.missingTrain
        var missingTest = use.missingTest
        for row in 0..<use.rowCount {
            let id = Int(raw.ids[row])
            if id < 0 {
                missingTrain += Int(use.train[row])
                missingTest += Int(use.test[row])
            } else {
                trainCounts[id] += Int(use.train[row])
                testCounts[id] += Int(use.test[row])
            }
        }

        let encoder: FittedEncoder
        switch feature.resolvedEncoding {
        case .vocabulary:
            encoder = EncoderFitting.vocabulary(values: raw.values, trainCounts: trainCounts,
                                                minCount: feature.minCount ?? 1)
        case .hash:
            encoder = EncoderFitting.hash(values: raw.values, buckets: feature.hashBuckets ?? 2,
                                          used: zip(trainCounts, testCounts).map { $0 + $1 > 0 })
        case .quantile:
            // Invalid values occur only in rows the screening skipped or in side rows no kept row
            // joins, so their placeholder 0 never reaches a training or test row.
            encoder = EncoderFitting.quantile(numbers: raw.numbers().map { $0 ?? 0 }, trainCounts: trainCounts,
                                              buckets: feature.buckets ?? 2)
        case .scene:
            preconditionFailure("scene features are encoded by sceneCodes")
        }

        var unseenTest = 0
        for id in 0..<valueCount where trainCounts[id] == 0 { unseenTest += testCounts[id] }
        var codes = [Int32](repeating: 0, count: use.rowCount + 1)
        encoder.rowOfValue.withUnsafeBufferPointer { rowOfValue in
            for row in 0..<use.rowCount {
                let id = raw.ids[row]
                codes[row] = id < 0 ? 0 : rowOfValue[Int(id)]
            }
        }
        let report = FeatureReport(name: feature.name, tableRows: encoder.tableRows, missingTrain: missingTrain,
                                   missingTest: missingTest, unseenTest: unseenTest,
                                   hashCollisions: encoder.hashCollisions)
        return FeatureCodes(source: source, codes: codes, report: report)
    }

    /// Returns the scene feature's codes: table row 1 + scene index for every log row, from
    /// `scenes` (`[log rows]`).
    static func sceneCodes(_ feature: FeatureConfig, scenes: [Int32], sceneCount: Int) -> FeatureCodes {
        var codes = scenes.map { $0 < 0 ? 0 : $0 + 1 }
        codes.append(0)
        return FeatureCodes(source: 0, codes: codes, report: FeatureReport(name: feature.name, tableRows: sceneCount + 1))
    }

    /// Returns, for each split, the row-major `[N, F]` table rows of its log rows `splits[s]`
    /// (N log rows). Feature f is read from `features[f].codes` at its source row. That is the
    /// log row itself for source 0, else `sideRowOfLogRow[source − 1][row]`, or the last entry
    /// where that is -1. The splits share the regrouped codes, which are built once.
    static func matrices(splits: [[Int]], features: [FeatureCodes], sideRowOfLogRow: [[Int32]],
                         sourceRowCounts: [Int]) -> [[Int32]] {
        let featureCount = features.count
        let sourceCount = sourceRowCounts.count
        guard featureCount > 0 else { return splits.map { _ in [] } }
        precondition(sourceCount == sideRowOfLogRow.count + 1,
                     "expected \(sideRowOfLogRow.count + 1) sources, got \(sourceCount)")

        // Codes regrouped per source, row-major [R + 1, features of the source], so a log row
        // reads each source's codes from one or two cache lines.
        var blockWidth = [Int](repeating: 0, count: sourceCount)
        var columnInBlock = [Int](repeating: 0, count: featureCount)
        for (index, feature) in features.enumerated() {
            columnInBlock[index] = blockWidth[feature.source]
            blockWidth[feature.source] += 1
        }
        let blocks = (0..<sourceCount).map { source in
            UnsafeMutablePointer<Int32>.allocate(capacity: max(1, (sourceRowCounts[source] + 1) * blockWidth[source]))
        }
        defer { blocks.forEach { $0.deallocate() } }
        // Each source's block is filled by its own task, so tasks need no lock.
        _ = ParallelWork.map(count: sourceCount) { source in
            let width = blockWidth[source]
            let block = blocks[source]
            for (index, feature) in features.enumerated() where feature.source == source {
                let column = columnInBlock[index]
                feature.codes.withUnsafeBufferPointer { codes in
                    for row in 0..<codes.count { block[row * width + column] = codes[row] }
                }
            }
        }
        // Consecutive features of one source have consecutive columns in its block, so each
        // such run is copied as one contiguous piece per row instead of feature by feature.
        var runs: [CopyRun] = []
        for (index, feature) in features.enumerated() {
            if let last = runs.last, last.source == feature.source, last.outputColumn + last.width == index {
                runs[runs.count - 1].width += 1
            } else {
                runs.append(CopyRun(source: feature.source, outputColumn: index, blockColumn: columnInBlock[index], width: 1))
            }
        }
        // The joins' side rows back to back, `[sources − 1, log rows]`.
        let logRowCount = sourceRowCounts[0]
        precondition(sideRowOfLogRow.allSatisfy { $0.count == logRowCount },
                     "expected \(logRowCount) side rows per join, got \(sideRowOfLogRow.map(\.count))")
        let sideRows = sideRowOfLogRow.flatMap { $0 }

        return splits.map { rows in
            gather(rows: rows, featureCount: featureCount, runs: runs, blocks: blocks, blockWidth: blockWidth,
                   sideRows: sideRows, sourceRowCounts: sourceRowCounts)
        }
    }

    /// Returns the `[N, F]` matrix of the log rows `rows`, copying each row's `runs` out of the
    /// source `blocks` (`[R + 1, blockWidth]` per source), with `sideRows` the joins' side rows
    /// back to back, `[sources − 1, log rows]`.
    private static func gather(rows: [Int], featureCount: Int, runs: [CopyRun], blocks: [UnsafeMutablePointer<Int32>],
                               blockWidth: [Int], sideRows: [Int32], sourceRowCounts: [Int]) -> [Int32] {
        let total = rows.count * featureCount
        guard total > 0 else { return [] }
        let sourceCount = sourceRowCounts.count
        let logRowCount = sourceRowCounts[0]
        let chunkCount = 8
        return [Int32](unsafeUninitializedCapacity: total) { output, initialized in
            HugePages.advise(UnsafeMutableRawBufferPointer(output))
            let outputBase = output.baseAddress!
            // Each chunk writes only its own rows of the output, so chunks need no lock.
            _ = ParallelWork.map(count: chunkCount) { chunk in
                // The start of the current row in each source's block.
                var sourceRows = blocks.map { UnsafePointer($0) }
                sideRows.withUnsafeBufferPointer { sideRows in
                    rows.withUnsafeBufferPointer { rows in
                        runs.withUnsafeBufferPointer { runs in
                            sourceRows.withUnsafeMutableBufferPointer { sourceRows in
                                blocks.withUnsafeBufferPointer { blocks in
                                    blockWidth.withUnsafeBufferPointer { blockWidth in
                                        sourceRowCounts.withUnsafeBufferPointer { sourceRowCounts in
                                            let start = rows.count * chunk / chunkCount
                                            let end = rows.count * (chunk + 1) / chunkCount
                                            for index in start..<end {
                                                let row = rows[index]
                                                sourceRows[0] = UnsafePointer(blocks[0] + row * blockWidth[0])
                                                for source in 1..<sourceCount {
                                                    let side = Int(sideRows[(source - 1) * logRowCount + row])
                                                    let blockRow = side < 0 ? sourceRowCounts[source] : side
                                                    sourceRows[source] = UnsafePointer(blocks[source] + blockRow * blockWidth[source])
                                                }
                                                let target = outputBase + index * featureCount
                                                for run in runs {
                                                    copy(run.width, from: sourceRows[run.source] + run.blockColumn,
                                                         to: target + run.outputColumn)
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
            initialized = total
        }
    }

    /// Copies `count` codes from `source` to the uninitialized `target` with inline vector moves.
    /// Runs are a few to a few dozen codes, where a call to `memmove` per run cost more than
    /// the copy itself (about 10 ns a call in a profile of the KuaiRand build).
    @inline(__always)
    private static func copy(_ count: Int, from source: UnsafePointer<Int32>, to target: UnsafeMutablePointer<Int32>) {
        let from = UnsafeRawPointer(source)
        let to = UnsafeMutableRawPointer(target)
        let bytes = count * 4
        var offset = 0
        while offset + 32 <= bytes {
            to.storeBytes(of: from.loadUnaligned(fromByteOffset: offset, as: SIMD8<Int32>.self), toByteOffset: offset,
                          as: SIMD8<Int32>.self)
            offset += 32
        }
        if offset + 16 <= bytes {
            to.storeBytes(of: from.loadUnaligned(fromByteOffset: offset, as: SIMD4<Int32>.self), toByteOffset: offset,
                          as: SIMD4<Int32>.self)
            offset += 16
        }
        if offset + 8 <= bytes {
            to.storeBytes(of: from.loadUnaligned(fromByteOffset: offset, as: UInt64.self), toByteOffset: offset,
                          as: UInt64.self)
            offset += 8
        }
        if offset < bytes {
            to.storeBytes(of: from.loadUnaligned(fromByteOffset: offset, as: Int32.self), toByteOffset: offset,
                          as: Int32.self)
        }
    }

    /// Features `outputColumn ..< outputColumn + width` of a matrix row, which are the block
    /// columns `blockColumn ..< blockColumn + width` of one source.
    private struct CopyRun {
        let source: Int
        let outputColumn: Int
        let blockColumn: Int
        var width: Int
    }
}
