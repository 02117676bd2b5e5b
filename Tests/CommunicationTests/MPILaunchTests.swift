import Foundation
import XCTest

/// Runs `trainer-bench allreduce --check` as real MPI jobs through `launch/local.sh`, which compares
/// the ring with a float64 reference and with `MPI_Allreduce` in every rank.
final class MPILaunchTests: XCTestCase {
    /// Upper bound for one job, so that a hang fails the test instead of blocking the run.
    static let jobTimeoutSeconds = 180.0

    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Finds `trainer-bench` in the build folder of this test bundle, else under `.build/`.
    static func benchmarkBinary() throws -> URL {
        var folders: [URL] = []
        if let executable = Bundle.main.executableURL {
            folders.append(executable.deletingLastPathComponent())
        }
        folders.append(Bundle(for: MPILaunchTests.self).bundleURL.deletingLastPathComponent())
        folders.append(repositoryRoot.appendingPathComponent(".build/release"))
        folders.append(repositoryRoot.appendingPathComponent(".build/debug"))
        for folder in folders {
            let candidate = folder.appendingPathComponent("trainer-bench")
            if FileManager.default.isExecutableFile(atPath: candidate.path) {
                return candidate
            }
        }
        throw MissingBinary(searchedFolders: folders.map(\.path))
    }

    struct MissingBinary: Error, CustomStringConvertible {
        let searchedFolders: [String]

        var description: String {
            "trainer-bench not found in \(searchedFolders); run 'swift build -c release' first"
        }
    }

    struct JobResult {
        let exitCode: Int32
        let output: String
    }

    /// Runs `launch/local.sh` with `arguments`, or the binary alone when `ranks` is nil.
    func runJob(ranks: Int?, _ arguments: [String]) throws -> JobResult {
        let binary = try Self.benchmarkBinary()
        let process = Process()
        if let ranks {
            process.executableURL = Self.repositoryRoot.appendingPathComponent("launch/local.sh")
            process.arguments = [String(ranks)] + arguments
        } else {
            process.executableURL = binary
            process.arguments = arguments
        }
        var environment = ProcessInfo.processInfo.environment
        environment["TRAINER"] = binary.path
        process.environment = environment

        let outputFile = FileManager.default.temporaryDirectory
            .appendingPathComponent("mpi-launch-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outputFile) }
        let handle = try FileHandle(forWritingTo: outputFile)
        process.standardOutput = handle
        process.standardError = handle

        try process.run()
        let deadline = Date(timeIntervalSinceNow: Self.jobTimeoutSeconds)
        while process.isRunning && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.1)
        }
        let timedOut = process.isRunning
        if timedOut {
            process.terminate()
        }
        process.waitUntilExit()
        try handle.close()

        let output = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
        if timedOut {
            XCTFail("job \(arguments) on \(ranks.map(String.init) ?? "1 (singleton)") ranks timed out after "
                    + "\(Self.jobTimeoutSeconds) s and was terminated; output:\n\(output)")
        }
        return JobResult(exitCode: process.terminationStatus, output: output)
    }

    func testCheckSingletonWithoutMPIRun() throws {
        let result = try runJob(ranks: nil, ["allreduce", "--check"])
        XCTAssertEqual(result.exitCode, 0, result.output)
        XCTAssertTrue(result.output.contains("allreduce check passed on 1 ranks"), result.output)
    }

    func testCheckTwoRanks() throws {
        let result = try runJob(ranks: 2, ["allreduce", "--check"])
        XCTAssertEqual(result.exitCode, 0, result.output)
        XCTAssertTrue(result.output.contains("allreduce check passed on 2 ranks"), result.output)
    }

    func testCheckFourRanks() throws {
        let result = try runJob(ranks: 4, ["allreduce", "--check"])
        XCTAssertEqual(result.exitCode, 0, result.output)
        XCTAssertTrue(result.output.contains("allreduce check passed on 4 ranks"), result.output)
    }

    func testCheckDetectsCorruptRank() throws {
        let result = try runJob(ranks: 3, ["allreduce", "--check", "--corrupt-rank", "1"])
        XCTAssertNotEqual(result.exitCode, 0, result.output)
        XCTAssertTrue(result.output.contains("ranks [1] disagree with the majority"), result.output)
    }
}
