import Foundation
import XCTest
@testable import DataPipeline

/// The canonical KuaiRand-Pure config on the real files: row counts after each step and label
/// order checked against the raw log.
final class KuaiRandTests: XCTestCase {
    static let categoricalUserColumns = [
        "user_active_degree", "is_lowactive_period", "is_live_streamer", "is_video_author",
        "follow_user_num_range", "fans_user_num_range", "friend_user_num_range", "register_days_range",
    ] + (0..<18).map { "onehot_feat\($0)" }

    static func canonicalConfig(directory: String) -> DataConfig {
        var features: [FeatureConfig] = [FeatureConfig(name: "user_id"), FeatureConfig(name: "video_id"),
                                         FeatureConfig(name: "author_id")]
        features += categoricalUserColumns.map { FeatureConfig(name: $0) }
        features += ["video_type", "upload_type", "visible_status", "music_id", "music_type"].map { FeatureConfig(name: $0) }
        features.append(FeatureConfig(name: "tag", firstToken: ","))
        features.append(FeatureConfig(name: "scene", encoding: .scene))
        return DataConfig(
            directory: directory, log: "log_standard_4_25_to_5_08_pure.csv",
            joins: [JoinConfig(file: "user_features_pure.csv", key: "user_id"),
                    JoinConfig(file: "video_features_basic_pure.csv", key: "video_id")],
            scene: SceneConfig(column: "tab", values: ["0", "1", "2", "4", "6"]),
            tasks: ["is_click", "long_view", "is_like"],
            split: SplitConfig(column: "date", trainMax: 20220506, testMin: 20220507),
            userColumn: "user_id", embeddingDimension: 8, features: features)
    }

    private func loadDirectory() throws -> String {
        guard let directory = TestSupport.kuaiRandDirectory else {
            throw XCTSkip("KuaiRand-Pure log not found in \(TestSupport.expectedKuaiRandDirectory); skipping the real-data tests")
        }
        return directory
    }

    func testCanonicalConfigHas36Features() throws {
        let config = Self.canonicalConfig(directory: "unused")
        XCTAssertEqual(config.features.count, 36)
    }

    func testRowCountsAfterSceneFilterAndSplit() throws {
        let directory = try loadDirectory()
        let dataset = try DataPreparation.buildDataset(config: Self.canonicalConfig(directory: directory))

        XCTAssertEqual(dataset.report.logRows, 228_329)
        XCTAssertEqual(dataset.report.rowsPerScene, [20_254, 173_008, 6_909, 13_647, 11_208])
        XCTAssertEqual(dataset.report.rowsPerScene.reduce(0, +), 225_026)
        XCTAssertEqual(dataset.report.trainRows, 196_056)
        XCTAssertEqual(dataset.report.testRows, 28_970)
        XCTAssertEqual(dataset.train.count, 196_056)
        XCTAssertEqual(dataset.test.count, 28_970)
        XCTAssertEqual(dataset.report.droppedOutOfSplit, 0)
        XCTAssertEqual(dataset.report.droppedBySceneValue["8"], 1_083)
        XCTAssertEqual(dataset.report.droppedBySceneValue.values.reduce(0, +), 228_329 - 225_026)
        // Apart from tab 8, each of the nine other dropped tabs has 19 to 658 rows.
        for (value, count) in dataset.report.droppedBySceneValue where value != "8" {
            XCTAssertTrue((19...658).contains(count), "tab \(value) dropped \(count) rows")
        }
        XCTAssertEqual(dataset.report.droppedBySceneValue.count, 10)
    }

    func testSchemaAndTaskOrder() throws {
        let directory = try loadDirectory()
        let config = Self.canonicalConfig(directory: directory)
        let dataset = try DataPreparation.buildDataset(config: config)
        let schema = dataset.schema

        XCTAssertEqual(schema.featureCount, 36)
        XCTAssertEqual(schema.taskNames, ["is_click", "long_view", "is_like"])
        XCTAssertEqual(schema.sceneFeatureIndex, 35)
        XCTAssertEqual(schema.tableRows[35], 6)
        XCTAssertEqual(schema.embeddingDimensions, [Int](repeating: 8, count: 36))

        // Labels, scenes and users compared with an independent read of the raw log.
        let log = try CSVReader.read(path: directory + "/" + config.log, fileName: config.log)
        let click = try XCTUnwrap(log.columnIndex(named: "is_click"))
        let longView = try XCTUnwrap(log.columnIndex(named: "long_view"))
        let like = try XCTUnwrap(log.columnIndex(named: "is_like"))
        let tab = try XCTUnwrap(log.columnIndex(named: "tab"))
        let user = try XCTUnwrap(log.columnIndex(named: "user_id"))
        for split in [dataset.train, dataset.test] {
            for row in stride(from: 0, to: split.count, by: 997) {
                let logRow = Int(split.rowIndices[row])
                XCTAssertEqual(split.labels[row * 3 + 0], Float(log.field(row: logRow, column: click)!)!)
                XCTAssertEqual(split.labels[row * 3 + 1], Float(log.field(row: logRow, column: longView)!)!)
                XCTAssertEqual(split.labels[row * 3 + 2], Float(log.field(row: logRow, column: like)!)!)
                let sceneValue = log.field(row: logRow, column: tab)!
                XCTAssertEqual(Int(split.scenes[row]), ["0", "1", "2", "4", "6"].firstIndex(of: sceneValue))
                XCTAssertEqual(split.features[row * 36 + 35], split.scenes[row] + 1)
                XCTAssertEqual(split.users[row], Int64(log.field(row: logRow, column: user)!)!)
            }
        }
    }

    func testClickRatesDifferByScene() throws {
        let directory = try loadDirectory()
        let dataset = try DataPreparation.buildDataset(config: Self.canonicalConfig(directory: directory))
        var clicks = [Double](repeating: 0, count: 5)
        var rows = [Double](repeating: 0, count: 5)
        for row in 0..<dataset.train.count {
            let scene = Int(dataset.train.scenes[row])
            clicks[scene] += Double(dataset.train.labels[row * 3])
            rows[scene] += 1
        }
        let rateTab0 = clicks[0] / rows[0]
        let rateTab1 = clicks[1] / rows[1]
        XCTAssertLessThan(rateTab0, 0.15)
        XCTAssertGreaterThan(rateTab1, 0.4)
    }
}

/// The data section of configs/pepnet-kuairand.json, decoded strictly as the trainer does.
final class KuaiRandConfigFileTests: XCTestCase {
    func testConfigFileRowCounts() throws {
        guard let directory = TestSupport.kuaiRandDirectory else {
            throw XCTSkip("KuaiRand-Pure log not found in \(TestSupport.expectedKuaiRandDirectory); skipping the real-data tests")
        }
        let path = TestSupport.packageRoot.appendingPathComponent("configs/pepnet-kuairand.json").path
        let whole = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: path)))
        let section = try XCTUnwrap((whole as? [String: Any])?["data"])
        var config = try StrictDecoding.decode(DataConfig.self, from: try JSONSerialization.data(withJSONObject: section))
        config.directory = directory
        let dataset = try DataPreparation.buildDataset(config: config)

        XCTAssertEqual(dataset.report.rowsPerScene.reduce(0, +), 225_026)
        XCTAssertEqual(dataset.report.trainRows, 196_056)
        XCTAssertEqual(dataset.report.testRows, 28_970)
        XCTAssertEqual(dataset.report.skippedRows.total, 0)
        XCTAssertEqual(dataset.report.skippedRows.unknownScene, 228_329 - 225_026)
    }
}
