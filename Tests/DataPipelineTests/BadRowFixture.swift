import Foundation
@testable import DataPipeline

/// A small log and item table for the bad-row tests: `goodRows` valid rows, each in scene "a" or
/// "b", day 1 (train) or 2 (test), joined to one of five items; `extraLogLines` follow them.
struct BadRowFixture {
    static let logHeader = "uid,item,day,sc,click,dur"
    var goodRows = 200
    var extraLogLines: [[UInt8]] = []
    var itemLines: [String] = (0..<5).map { "i\($0),c\($0 % 2)" }

    static func goodRow(_ index: Int) -> String {
        "u\(index % 7),i\(index % 5),\(1 + index % 2),\(index % 3 == 0 ? "b" : "a"),\(index % 2),\(index)"
    }

    /// The log bytes: the header, then bad lines inserted after the first half of the good rows.
    var logBytes: [UInt8] {
        var lines = [Array(Self.logHeader.utf8)]
        for index in 0..<goodRows / 2 { lines.append(Array(Self.goodRow(index).utf8)) }
        lines += extraLogLines
        for index in goodRows / 2..<goodRows { lines.append(Array(Self.goodRow(index).utf8)) }
        return Array(lines.joined(separator: [UInt8(ascii: "\n")])) + [UInt8(ascii: "\n")]
    }

    /// 1-based file line of the first extra line.
    var firstExtraLine: Int { 2 + goodRows / 2 }

    func write(to directory: String) throws {
        try Data(logBytes).write(to: URL(fileURLWithPath: directory + "/log.csv"))
        try TestSupport.write((["item,cat"] + itemLines).joined(separator: "\n") + "\n", to: "items.csv", in: directory)
    }

    func config(directory: String) -> DataConfig {
        DataConfig(
            directory: directory, log: "log.csv", joins: [JoinConfig(file: "items.csv", key: "item")],
            scene: SceneConfig(column: "sc", values: ["a", "b"]), tasks: ["click"],
            split: SplitConfig(column: "day", trainMax: 1, testMin: 2), userColumn: "uid",
            embeddingDimension: 4,
            features: [FeatureConfig(name: "uid"), FeatureConfig(name: "item"), FeatureConfig(name: "cat"),
                       FeatureConfig(name: "dur", encoding: .quantile, buckets: 4)])
    }
}
