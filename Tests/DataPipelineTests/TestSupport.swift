import Foundation
import XCTest
@testable import DataPipeline

/// Helpers shared by the data pipeline tests.
enum TestSupport {
    /// The package root, found from this file's path (Tests/DataPipelineTests/TestSupport.swift).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Where the KuaiRand-Pure files are expected: the shared data folder beside the package.
    static let expectedKuaiRandDirectory =
        packageRoot.appendingPathComponent("../shared/data/kuairand-pure").standardizedFileURL.path

    /// The KuaiRand-Pure folder, or `nil` if its log file is not there.
    static var kuaiRandDirectory: String? {
        let log = expectedKuaiRandDirectory + "/log_standard_4_25_to_5_08_pure.csv"
        return FileManager.default.fileExists(atPath: log) ? expectedKuaiRandDirectory : nil
    }

    /// Creates an empty temporary folder removed when the test ends.
    static func temporaryDirectory(_ testCase: XCTestCase) throws -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("data-pipeline-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        testCase.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    /// Writes `text` to `name` inside `directory`.
    static func write(_ text: String, to name: String, in directory: String) throws {
        try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
    }
}
