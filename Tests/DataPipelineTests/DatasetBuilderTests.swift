import Foundation
import XCTest
@testable import DataPipeline

/// The builder on a small hand-made log and item table, with every expected row worked out by
/// hand: joins with a missing key, scene filter, split, and each encoding.
final class DatasetBuilderTests: XCTestCase {
    static let log = """
    uid,item,day,sc,click,lv,dur
    u1,i1,1,a,1,0,10
    u2,i2,1,a,0,1,20
    u1,i3,1,b,1.0,0.0,30
    u3,i9,2,a,0,0,40
    u4,i1,2,c,0,0,50
    u2,i2,3,b,1,1,
    u5,i4,3,a,0,1,70

    """

    static let items = """
    item,cat,tags
    i1,x,"t1,t2"
    i2,y,t3
    i3,x,
    i4,z,"t4,t1"

    """

    static func config(features: [FeatureConfig]? = nil) -> DataConfig {
        DataConfig(
            directory: "", log: "log.csv", joins: [JoinConfig(file: "items.csv", key: "item")],
            scene: SceneConfig(column: "sc", values: ["a", "b"]), tasks: ["click", "lv"],
            split: SplitConfig(column: "day", trainMax: 2, testMin: 3), userColumn: "uid",
            embeddingDimension: 4,
            features: features ?? [
                FeatureConfig(name: "uid"),
                FeatureConfig(name: "item"),
                FeatureConfig(name: "cat"),
                FeatureConfig(name: "tag", column: "tags", firstToken: ","),
                FeatureConfig(name: "dur", encoding: .quantile, buckets: 2),
                FeatureConfig(name: "item_hash", column: "item", encoding: .hash, hashBuckets: 3),
                FeatureConfig(name: "scene", encoding: .scene, embeddingDimension: 2),
            ])
    }

    private func build(log: String = log, items: String = items, config: DataConfig = config()) throws -> EncodedDataset {
        let logTable = try CSVReader.parse(text: log, fileName: "log.csv")
        let itemTable = try CSVReader.parse(text: items, fileName: "items.csv")
        return try DatasetBuilder(config: config, log: logTable, sideTables: [itemTable]).build()
    }

    /// Column `feature` of every row of a split.
    private func column(_ split: EncodedSplit, _ feature: Int, width: Int = 7) -> [Int32] {
        (0..<split.count).map { split.features[$0 * width + feature] }
    }

    func testRowsAfterFilterAndSplit() throws {
        let dataset = try build()
        XCTAssertEqual(dataset.train.rowIndices, [0, 1, 2, 3])
        XCTAssertEqual(dataset.test.rowIndices, [5, 6])
        XCTAssertEqual(dataset.report.droppedBySceneValue, ["c": 1])
        XCTAssertEqual(dataset.report.rowsPerScene, [4, 2])
        XCTAssertEqual(dataset.train.scenes, [0, 0, 1, 0])
        XCTAssertEqual(dataset.test.scenes, [1, 0])
    }

    func testLabelsInTaskOrder() throws {
        let dataset = try build()
        XCTAssertEqual(dataset.train.labels, [1, 0, 0, 1, 1, 0, 0, 0])
        XCTAssertEqual(dataset.test.labels, [1, 1, 0, 1])
    }

    func testUsersHashedWhenNotIntegers() throws {
        let dataset = try build()
        XCTAssertEqual(dataset.train.users[0], Int64(bitPattern: 0x08c4_7b07_b567_47f3))
        XCTAssertEqual(dataset.train.users[0], dataset.train.users[2])
    }

    func testVocabularyFitOnTrainOnly() throws {
        let dataset = try build()
        // uid: u1, u2, u3 seen in training; u5 appears only in test.
        XCTAssertEqual(column(dataset.train, 0), [1, 2, 1, 3])
        XCTAssertEqual(column(dataset.test, 0), [2, 0])
        XCTAssertEqual(dataset.schema.tableRows[0], 4)
        XCTAssertEqual(dataset.report.features[0].unseenTest, 1)
        // item: i1, i2, i3, i9 from the log; i4 is unseen.
        XCTAssertEqual(column(dataset.train, 1), [1, 2, 3, 4])
        XCTAssertEqual(column(dataset.test, 1), [2, 0])
    }

    func testJoinWithMissingKey() throws {
        let dataset = try build()
        // cat from items.csv; i9 has no item row, so row 3 is missing.
        XCTAssertEqual(column(dataset.train, 2), [1, 2, 1, 0])
        XCTAssertEqual(column(dataset.test, 2), [2, 0])
        XCTAssertEqual(dataset.report.missingJoinKeys, ["items.csv": 1])
        XCTAssertEqual(dataset.report.features[2].missingTrain, 1)
        XCTAssertEqual(dataset.report.features[2].unseenTest, 1)
        XCTAssertEqual(dataset.schema.tableRows[2], 3)
    }

    func testFirstToken() throws {
        let dataset = try build()
        // "t1,t2" -> t1, "t3" -> t3, empty and unjoined -> missing; test "t4,t1" -> t4 unseen.
        XCTAssertEqual(column(dataset.train, 3), [1, 2, 0, 0])
        XCTAssertEqual(column(dataset.test, 3), [2, 0])
        XCTAssertEqual(dataset.report.features[3].missingTrain, 2)
        XCTAssertEqual(dataset.schema.tableRows[3], 3)
    }

    func testQuantileBuckets() throws {
        let dataset = try build()
        // Training values 10, 20, 30, 40 with 2 buckets: boundary x[4·1/2] = 30.
        XCTAssertEqual(column(dataset.train, 4), [1, 1, 2, 2])
        XCTAssertEqual(column(dataset.test, 4), [0, 2])
        XCTAssertEqual(dataset.schema.tableRows[4], 3)
        XCTAssertEqual(dataset.report.features[4].missingTest, 1)
    }

    func testHashRowsAndCollisions() throws {
        let dataset = try build()
        // FNV-1a-64 of i1, i2, i3, i9, i4 is odd, even, odd, odd, even: rows 1 + h % 2.
        XCTAssertEqual(column(dataset.train, 5), [2, 1, 2, 2])
        XCTAssertEqual(column(dataset.test, 5), [1, 1])
        XCTAssertEqual(dataset.schema.tableRows[5], 3)
        // Five distinct values in two buckets.
        XCTAssertEqual(dataset.report.features[5].hashCollisions, 3)
    }

    func testSceneFeatureAndSchema() throws {
        let dataset = try build()
        XCTAssertEqual(column(dataset.train, 6), [1, 1, 2, 1])
        XCTAssertEqual(column(dataset.test, 6), [2, 1])
        XCTAssertEqual(dataset.schema.sceneFeatureIndex, 6)
        XCTAssertEqual(dataset.schema.tableRows[6], 3)
        XCTAssertEqual(dataset.schema.embeddingDimensions, [4, 4, 4, 4, 4, 4, 2])
        XCTAssertEqual(dataset.schema.sceneValues, ["a", "b"])
    }

    func testMinCount() throws {
        let dataset = try build(config: Self.config(features: [FeatureConfig(name: "uid", minCount: 2)]))
        XCTAssertEqual(dataset.train.features, [1, 0, 1, 0])
        XCTAssertEqual(dataset.schema.tableRows, [2])
    }

    func testOutOfSplitRowsDropped() throws {
        var config = Self.config()
        config.split = SplitConfig(column: "day", trainMax: 1, testMin: 3)
        let dataset = try build(config: config)
        XCTAssertEqual(dataset.report.droppedOutOfSplit, 1)
        XCTAssertEqual(dataset.train.rowIndices, [0, 1, 2])
    }

    func testInvalidLabelNamesLineAndColumn() {
        let log = Self.log.replacingOccurrences(of: "u3,i9,2,a,0,0,40", with: "u3,i9,2,a,2,0,40")
        XCTAssertThrowsError(try build(log: log)) { error in
            XCTAssertEqual(error as? DataError, .invalidLabel(file: "log.csv", line: 5, column: "click", value: "2"))
        }
    }

    func testNonNumericQuantileValue() {
        let log = Self.log.replacingOccurrences(of: "u3,i9,2,a,0,0,40", with: "u3,i9,2,a,0,0,forty")
        XCTAssertThrowsError(try build(log: log)) { error in
            XCTAssertEqual(error as? DataError, .notNumeric(file: "log.csv", line: 5, column: "dur", value: "forty"))
        }
    }

    func testDuplicateSideKey() {
        let items = Self.items + "i2,w,t9\n"
        XCTAssertThrowsError(try build(items: items)) { error in
            XCTAssertEqual(error as? DataError, .duplicateKey(file: "items.csv", line: 6, key: "i2", firstLine: 3))
        }
    }

    func testMissingFeatureColumnNamesFiles() {
        let config = Self.config(features: [FeatureConfig(name: "colour")])
        XCTAssertThrowsError(try build(config: config)) { error in
            XCTAssertEqual(error as? DataError,
                           .missingColumn(column: "colour", role: "feature \"colour\"", searchedFiles: ["log.csv", "items.csv"]))
        }
    }

    func testMissingSceneColumn() {
        var config = Self.config()
        config.scene.column = "tab"
        XCTAssertThrowsError(try build(config: config)) { error in
            XCTAssertEqual(error as? DataError, .missingColumn(column: "tab", role: "scene", searchedFiles: ["log.csv"]))
            XCTAssertTrue("\(error)".contains("log.csv"))
        }
    }

    func testMissingJoinKeyInSideTable() {
        let items = Self.items.replacingOccurrences(of: "item,cat,tags", with: "id,cat,tags")
        XCTAssertThrowsError(try build(items: items)) { error in
            XCTAssertEqual(error as? DataError, .missingColumn(column: "item", role: "join key", searchedFiles: ["items.csv"]))
        }
    }

    func testBuildDatasetReadsDirectory() throws {
        let directory = try TestSupport.temporaryDirectory(self)
        try TestSupport.write(Self.log, to: "log.csv", in: directory)
        try TestSupport.write(Self.items, to: "items.csv", in: directory)
        var config = Self.config()
        config.directory = "/nonexistent"
        let fromFiles = try DataPreparation.buildDataset(config: config, dataDirectory: directory)
        let inMemory = try build()
        XCTAssertEqual(fromFiles.train, inMemory.train)
        XCTAssertEqual(fromFiles.test, inMemory.test)
        XCTAssertEqual(fromFiles.schema, inMemory.schema)
    }
}
