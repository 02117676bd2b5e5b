import Foundation
import Training
import XCTest

/// Preemption under mpirun: SIGTERM stops every rank after the same step with a final
/// checkpoint, a rank killed with SIGKILL ends the job, and both runs resume to the parameters
/// of an uninterrupted run, bit for bit.
final class PreemptionTests: XCTestCase {
    /// mpirun's wait between SIGCONT, SIGTERM and SIGKILL (see launch/local.sh), shortened so
    /// the test stops within seconds.
    static let graceSeconds = 3
    /// Steps of at least 10 ms, so the job of 1,600 steps still runs when the signal arrives.
    static let slowJobEnvironment = ["OMPI_MCA_odls_base_sigkill_timeout": String(graceSeconds),
                                     TestHooks.stepDelayVariable: "10",
                                     "MPIRUN_OPTIONS": "-x \(TestHooks.stepDelayVariable)"]

    /// A 2-rank job of about 1,600 steps with a progress line every 10 steps and a checkpoint
    /// every 100, and the dump of its uninterrupted run.
    struct Setup {
        let folder: URL
        let configPath: String
        let uninterruptedDump: Data
    }

    func makeSetup() throws -> Setup {
        let folder = try temporaryDirectory(self)
        var config = try syntheticConfig(directory: folder.appendingPathComponent("data"), rows: 20_000, batchSize: 64,
                                         maxSteps: nil, epochs: 6)
        config.train.logEverySteps = 10
        config.train.checkpointEverySteps = 100
        let configPath = folder.appendingPathComponent("config.json").path
        try config.encodedJSON().write(to: URL(fileURLWithPath: configPath))

        let dump = folder.appendingPathComponent("uninterrupted.bin").path
        let result = try runTrainer(ranks: 2, arguments(configPath, folder, run: "uninterrupted") + ["--dump-parameters", dump])
        XCTAssertEqual(result.exitCode, 0, result.output)
        return Setup(folder: folder, configPath: configPath, uninterruptedDump: try Data(contentsOf: URL(fileURLWithPath: dump)))
    }

    func arguments(_ configPath: String, _ folder: URL, run: String) -> [String] {
        ["train", "--config", configPath, "--cache-dir", folder.appendingPathComponent("cache").path,
         "--run-dir", folder.appendingPathComponent(run).path]
    }

    /// Resumes `run` on 2 ranks and returns its parameter dump.
    func resume(_ setup: Setup, run: String) throws -> Data {
        let dump = setup.folder.appendingPathComponent("\(run)-resumed.bin").path
        let result = try runTrainer(ranks: 2, arguments(setup.configPath, setup.folder, run: "\(run)-resumed")
                                        + ["--resume", setup.folder.appendingPathComponent(run).path, "--dump-parameters", dump])
        XCTAssertEqual(result.exitCode, 0, result.output)
        return try Data(contentsOf: URL(fileURLWithPath: dump))
    }

    func testSIGTERMStopsWithCheckpoint() throws {
        let setup = try makeSetup()
        let job = try BackgroundJob(ranks: 2, arguments(setup.configPath, setup.folder, run: "stopped"),
                                    environment: Self.slowJobEnvironment)
        XCTAssertTrue(job.waitForOutput(containing: "checkpoints/step-100 written", timeoutSeconds: 120), job.output)
        let signalled = Date()
        kill(job.process.processIdentifier, SIGTERM)
        XCTAssertTrue(job.waitForExit(timeoutSeconds: 30), "the job still runs 30 s after SIGTERM:\n\(job.output)")
        XCTAssertLessThan(Date().timeIntervalSince(signalled), 30)

        let output = job.output
        let stopLine = try XCTUnwrap(output.split(separator: "\n").first { $0.contains("stopping after step") },
                                     "no stop line; did the run end before SIGTERM reached the ranks?\n\(output)")
        XCTAssertTrue(stopLine.hasSuffix("on SIGTERM"), String(stopLine))
        let step = try XCTUnwrap(Int(stopLine.split(separator: " ").reversed()[2]), String(stopLine))
        let checkpoints = setup.folder.appendingPathComponent("stopped/checkpoints")
        XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoints.appendingPathComponent("step-\(step)/manifest.json").path),
                      "no final checkpoint of step \(step):\n\(output)")
        let latest = try String(contentsOf: checkpoints.appendingPathComponent("latest"), encoding: .utf8)
        XCTAssertEqual(latest, "step-\(step)\n")
        XCTAssertEqual(folderListing(checkpoints).filter { $0.contains(".tmp-") }, [], "a save was left unfinished")
        XCTAssertNotEqual(job.process.terminationStatus, 0, output)

        XCTAssertEqual(try resume(setup, run: "stopped"), setup.uninterruptedDump, "the resumed run ends elsewhere")
    }

    func testSIGKILLedRankEndsJob() throws {
        let setup = try makeSetup()
        let job = try BackgroundJob(ranks: 2, arguments(setup.configPath, setup.folder, run: "killed"),
                                    environment: Self.slowJobEnvironment)
        XCTAssertTrue(job.waitForOutput(containing: "checkpoints/step-100 written", timeoutSeconds: 120), job.output)
        let ranks = try rankProcesses(of: job.process.processIdentifier)
        XCTAssertEqual(ranks.count, 2, "rank processes under mpirun: \(ranks)")
        let killed = Date()
        kill(try XCTUnwrap(ranks.last), SIGKILL)
        XCTAssertTrue(job.waitForExit(timeoutSeconds: 30), "the job still runs 30 s after a rank died:\n\(job.output)")
        XCTAssertLessThan(Date().timeIntervalSince(killed), 30)
        XCTAssertNotEqual(job.process.terminationStatus, 0, job.output)

        XCTAssertEqual(try resume(setup, run: "killed"), setup.uninterruptedDump, "the resumed run ends elsewhere")
    }

    /// Returns the process ids of the trainer processes that mpirun `parent` started.
    func rankProcesses(of parent: Int32) throws -> [Int32] {
        let result = try runProcess(URL(fileURLWithPath: "/usr/bin/pgrep"), ["-P", String(parent), "-x", "trainer"])
        return result.output.split(separator: "\n").compactMap { Int32($0) }.sorted()
    }
}

/// A job started through launch/local.sh that the test signals while it runs.
final class BackgroundJob {
    let process = Process()
    let outputFile: URL
    private let handle: FileHandle

    init(ranks: Int, _ arguments: [String], environment: [String: String]) throws {
        let binary = try builtExecutable("trainer")
        process.executableURL = repositoryRoot.appendingPathComponent("launch/local.sh")
        process.arguments = [String(ranks)] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment.merging(["TRAINER": binary.path]) { $1 }) { $1 }
        process.currentDirectoryURL = repositoryRoot
        outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("job-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        handle = try FileHandle(forWritingTo: outputFile)
        process.standardOutput = handle
        process.standardError = handle
        // local.sh ends in `exec mpirun`, so the process id is mpirun's.
        try process.run()
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? handle.close()
        try? FileManager.default.removeItem(at: outputFile)
    }

    var output: String {
        (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
    }

    /// Returns whether the output contains `text` before the job ends or the time runs out.
    func waitForOutput(containing text: String, timeoutSeconds: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeoutSeconds)
        while Date() < deadline {
            if output.contains(text) { return true }
            if !process.isRunning { return output.contains(text) }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    /// Returns whether the job ended within `timeoutSeconds`.
    func waitForExit(timeoutSeconds: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeoutSeconds)
        while process.isRunning && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        return !process.isRunning
    }
}
