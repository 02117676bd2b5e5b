import XCTest
@testable import DataPipeline

/// `FeatureMatrix.matrices` against a direct per-element lookup, for feature layouts whose
/// same-source runs are 1 to 40 features wide, so every tail length of the run copy occurs.
final class FeatureMatrixTests: XCTestCase {
    func testMatricesMatchDirectLookup() {
        var generator = SplitMix64(seed: 5)
        let logRows = 50
        let sideRowCounts = [7, 3]
        for trial in 0..<40 {
            // A random source per feature, with long runs: each next feature keeps the source
            // with probability 7/8.
            let featureCount = 1 + trial
            var sources = [Int(generator.next() % 3)]
            while sources.count < featureCount {
                sources.append(generator.next() % 8 == 0 ? Int(generator.next() % 3) : sources.last!)
            }
            let rowCounts = [logRows] + sideRowCounts
            let features = sources.enumerated().map { index, source in
                FeatureMatrix.FeatureCodes(
                    source: source,
                    codes: (0...rowCounts[source]).map { Int32(index * 1000 + $0) },
                    report: FeatureReport(name: "f\(index)", tableRows: 1))
            }
            // -1 (no side row) for about one log row in five.
            let sideRowOfLogRow = sideRowCounts.map { count in
                (0..<logRows).map { _ in generator.next() % 5 == 0 ? Int32(-1) : Int32(generator.next() % UInt64(count)) }
            }
            let splits = [(0..<logRows).filter { $0 % 3 != 0 }, [4, 0, 49], []]

            let matrices = FeatureMatrix.matrices(splits: splits, features: features, sideRowOfLogRow: sideRowOfLogRow,
                                                  sourceRowCounts: rowCounts)

            XCTAssertEqual(matrices.count, splits.count, "trial \(trial)")
            for (split, rows) in splits.enumerated() {
                var expected: [Int32] = []
                for row in rows {
                    for feature in features {
                        let sourceRow: Int
                        if feature.source == 0 {
                            sourceRow = row
                        } else {
                            let side = sideRowOfLogRow[feature.source - 1][row]
                            sourceRow = side < 0 ? rowCounts[feature.source] : Int(side)
                        }
                        expected.append(feature.codes[sourceRow])
                    }
                }
                XCTAssertEqual(matrices[split], expected, "trial \(trial), split \(split), sources \(sources)")
            }
        }
    }
}
