import Foundation
import XCTest

/// The product's main job: PEPNet trained data-parallel on the real KuaiRand-Pure subset under
/// mpirun, one epoch, then evaluated on the test days by rank 0.
final class KuaiRandTrainingTests: XCTestCase {
    struct Metrics: Decodable {
        struct Evaluation: Decodable {
            struct Task: Decodable {
                let name: String
                let auc: Double?
                let uauc: Double?
                let validUsers: Int
                let rows: Int
            }
            let rows: Int
            let tasks: [Task]
        }
        let epoch: Int
        let evaluation: Evaluation
    }

    func train(ranks: Int, config: String, run: URL) throws -> (metrics: Metrics, output: String) {
        guard FileManager.default.fileExists(atPath: kuaiRandDirectory.path) else {
            throw XCTSkip("KuaiRand data not found at \(kuaiRandDirectory.path)")
        }
        let result = try runTrainer(ranks: ranks, ["train", "--config", config, "--data-dir", kuaiRandDirectory.path,
                                                   "--run-dir", run.path], timeoutSeconds: 600)
        XCTAssertEqual(result.exitCode, 0, result.output)
        let data = try Data(contentsOf: run.appendingPathComponent("metrics.json"))
        return (try JSONDecoder().decode(Metrics.self, from: data), result.output)
    }

    func testPEPNetOnFourRanksReachesReferenceAUC() throws {
        let folder = try temporaryDirectory(self)
        let (metrics, output) = try train(ranks: 4, config: "configs/pepnet-kuairand.json",
                                          run: folder.appendingPathComponent("run"))
        let tasks = Dictionary(uniqueKeysWithValues: metrics.evaluation.tasks.map { ($0.name, $0) })
        XCTAssertEqual(metrics.evaluation.tasks.map(\.name), ["is_click", "long_view", "is_like"])
        XCTAssertEqual(metrics.evaluation.rows, 28_970)
        XCTAssertEqual(tasks["is_click"]?.validUsers, 3_812)
        XCTAssertEqual(tasks["long_view"]?.validUsers, 3_470)
        XCTAssertEqual(tasks["is_like"]?.validUsers, 284)
        // The TensorFlow reference of the same model and split scores 0.7314-0.7319 and
        // 0.7255-0.7274 over two seeds; one standard error of the test set is about 0.003.
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(tasks["is_click"]?.auc), 0.728)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(tasks["long_view"]?.auc), 0.722)
        XCTAssertTrue(output.contains("196056 train, 28970 test"), output)
        XCTAssertTrue(output.contains("rank 0: 49014, rank 1: 49014, rank 2: 49014, rank 3: 49014 (total 196056)"), output)
    }

    func testMLPBaselineOnTwoRanks() throws {
        let folder = try temporaryDirectory(self)
        let (metrics, output) = try train(ranks: 2, config: "configs/mlp-kuairand.json",
                                          run: folder.appendingPathComponent("run"))
        let click = try XCTUnwrap(metrics.evaluation.tasks.first { $0.name == "is_click" })
        // A sanity floor only: the baseline's figures are reported beside PEPNet's in the README.
        XCTAssertGreaterThan(try XCTUnwrap(click.auc), 0.70)
        XCTAssertTrue(output.contains("rank 0: 98028, rank 1: 98028 (total 196056)"), output)
    }
}
