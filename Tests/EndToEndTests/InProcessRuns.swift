import Communication
import Foundation
import Training
import XCTest

/// In-process training runs for the fault tests, with the run directory, resume point and
/// build identity each test needs.
struct InProcessRun {
    let folder: URL
    var worldSize = 2
    var runName: String?
    var resumeFrom: String?
    var overwrite = false
    /// The build identity of each rank; nil skips the check.
    var buildIdentity: ((Int) -> BuildIdentity)?

    init(folder: URL) {
        self.folder = folder
    }

    /// 3,000 rows leave about 2,570 training rows, so 256-row batches give 11 steps an epoch.
    static func config(_ folder: URL, steps: Int) throws -> TrainerConfig {
        try syntheticConfig(directory: folder.appendingPathComponent("data"), rows: 3_000, batchSize: 256,
                            maxSteps: steps, epochs: 3)
    }

    func train(_ config: TrainerConfig) throws -> RunSummary {
        var options = RunOptions(config: config, configSource: "test", cacheDirectory: folder.appendingPathComponent("cache").path)
        options.keepFinalParameters = true
        options.runDirectory = runName.map { folder.appendingPathComponent($0).path }
        options.overwriteRunDirectory = overwrite
        options.resumeFrom = resumeFrom
        let identity = buildIdentity
        let summaries = try InProcessWorld.run(worldSize: worldSize) { communicator in
            var rankOptions = options
            rankOptions.buildIdentity = identity?(communicator.rank)
            return try TrainingSession.run(rankOptions, communicator: communicator,
                                           logger: Logger(rank: communicator.rank, worldSize: communicator.worldSize,
                                                          console: DiscardSink()))
        }
        return summaries[0]
    }

    /// Returns the message of the error that training throws, failing the test when it throws none.
    func trainingError(_ config: TrainerConfig, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try train(config)
            XCTFail("expected training to fail", file: file, line: line)
            return ""
        } catch {
            return String(describing: error)
        }
    }
}

/// Returns the sorted names in `folder`, or the error text when it cannot be listed.
func folderListing(_ folder: URL) -> [String] {
    do {
        return try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
    } catch {
        return ["cannot list: \(error)"]
    }
}
