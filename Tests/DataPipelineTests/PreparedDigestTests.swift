import Foundation
import XCTest
@testable import DataPipeline

/// Digests of prepared files, computed with the row-by-row implementation before the parser,
/// join and encoders were rewritten for speed, so any change in the bytes written shows up.
///
/// The build time in the report differs between runs, so it is set to 0 before encoding, and
/// the fingerprint field is 0. The KuaiRand fingerprint is checked on its own because it
/// names the cache file.
final class PreparedDigestTests: XCTestCase {
    /// Returns the FNV-1a hash of the prepared-file bytes of `dataset`.
    static func digest(_ dataset: EncodedDataset) throws -> UInt64 {
        var copy = dataset
        copy.report.secondsTaken = 0
        return StableHash.fnv1a(try PreparedFileFormat.encode(copy, fingerprint: 0))
    }

    func testSyntheticDigest() throws {
        let directory = try TestSupport.temporaryDirectory(self)
        var options = SyntheticDataOptions(rows: 30_000, users: 700, items: 400)
        options.contextIdSpace = 5_000
        try SyntheticDataGenerator(options: options).write(to: directory)
        let config = SyntheticDataGenerator.defaultConfig(directory: directory, options: options)

        let dataset = try DataPreparation.buildDataset(config: config)
        XCTAssertEqual(dataset.train.count + dataset.test.count, 30_000)
        XCTAssertEqual(try Self.digest(dataset), 12250939306221700079)
    }

    func testSyntheticMinCountDigest() throws {
        let directory = try TestSupport.temporaryDirectory(self)
        let options = SyntheticDataOptions(rows: 20_000, users: 900, items: 600, seed: 7)
        try SyntheticDataGenerator(options: options).write(to: directory)
        var config = SyntheticDataGenerator.defaultConfig(directory: directory, options: options)
        for index in config.features.indices where config.features[index].name == "item_id" {
            config.features[index].minCount = 3
        }

        let dataset = try DataPreparation.buildDataset(config: config)
        XCTAssertEqual(try Self.digest(dataset), 15501565561728131104)
    }

    func testKuaiRandDigest() throws {
        guard let directory = TestSupport.kuaiRandDirectory else {
            throw XCTSkip("KuaiRand-Pure log not found in \(TestSupport.expectedKuaiRandDirectory)")
        }
        let config = KuaiRandTests.canonicalConfig(directory: directory)
        let dataset = try DataPreparation.buildDataset(config: config)
        XCTAssertEqual(try Self.digest(dataset), 13242742617955475708)

        let inputs = try InputFiles(config: config, dataDirectory: nil)
        XCTAssertEqual(try DataPreparation.fingerprint(config: config, inputs: inputs), 13892563620275211375)
    }
}
