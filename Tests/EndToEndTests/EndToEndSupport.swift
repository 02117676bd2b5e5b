import DataPipeline
import Foundation
import Models
import Training
import XCTest

/// The package root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The real data, read in place (never copied into the repository).
let kuaiRandDirectory = repositoryRoot.appendingPathComponent("../shared/data/kuairand-pure").standardized

/// A log sink that drops every line, so in-process runs keep test output readable.
final class DiscardSink: LogSink, @unchecked Sendable {  // Stateless.
    func write(_ text: String) {}
}

/// Returns a fresh temporary folder, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// Writes a small synthetic data set into `directory` and returns a PEPNet config that reads it.
func syntheticConfig(directory: URL, rows: Int, batchSize: Int, maxSteps: Int?, epochs: Int = 1,
                     dropout: Float = 0.1) throws -> TrainerConfig {
    let options = SyntheticDataOptions(rows: rows, users: 300, items: 200, days: 14, scenes: 4, seed: 3)
    try SyntheticDataGenerator(options: options).write(to: directory.path)
    let model = ModelConfig(name: "pepnet", options: [
        "hiddenUnits": .array([.number(32), .number(16)]),
        "dropout": .number(Double(dropout)),
        "personaFeatures": .array([.string("user_id"), .string("item_id"), .string("author_id")]),
    ])
    var train = TrainSettings()
    train.batchSize = batchSize
    train.maxSteps = maxSteps
    train.epochs = epochs
    // The default embedding rate (the dense 1e-3). At 0.01 lazy Adam amplifies float rounding
    // differences between world sizes: a row's first update is about lr·sign(g) once |g| passes
    // about 3e-6, so the gain from g to the update is large for small g, and runs drift apart by
    // more than 1e-5 within a few dozen steps although each step agrees to a few ulp.
    return TrainerConfig(data: SyntheticDataGenerator.defaultConfig(directory: directory.path, options: options),
                         model: model, train: train)
}

/// Locates an executable built beside the test bundle (or under .build).
func builtExecutable(_ name: String) throws -> URL {
    var folders: [URL] = []
    if let executable = Bundle.main.executableURL {
        folders.append(executable.deletingLastPathComponent())
    }
    folders.append(repositoryRoot.appendingPathComponent(".build/release"))
    folders.append(repositoryRoot.appendingPathComponent(".build/debug"))
    for folder in folders {
        let candidate = folder.appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: candidate.path) {
            return candidate
        }
    }
    throw XCTSkip("\(name) not found in \(folders.map(\.path)); run 'swift build -c release' first")
}

struct JobResult {
    let exitCode: Int32
    let output: String
}

/// Runs the trainer on `ranks` ranks through launch/local.sh, or alone when `ranks` is nil,
/// from the repository root. A job that outlives `timeoutSeconds` is killed and fails the test.
func runTrainer(ranks: Int?, _ arguments: [String], timeoutSeconds: Double = 300,
                file: StaticString = #filePath, line: UInt = #line) throws -> JobResult {
    let binary = try builtExecutable("trainer")
    if let ranks {
        return try runProcess(repositoryRoot.appendingPathComponent("launch/local.sh"), [String(ranks)] + arguments,
                              environment: ["TRAINER": binary.path], timeoutSeconds: timeoutSeconds, file: file, line: line)
    }
    return try runProcess(binary, arguments, timeoutSeconds: timeoutSeconds, file: file, line: line)
}

/// Runs `executable` from the repository root with the test's environment plus `environment`,
/// capturing standard output and error together.
func runProcess(_ executable: URL, _ arguments: [String], environment: [String: String] = [:],
                timeoutSeconds: Double = 300, file: StaticString = #filePath, line: UInt = #line) throws -> JobResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    process.currentDirectoryURL = repositoryRoot

    let outputFile = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: outputFile) }
    let handle = try FileHandle(forWritingTo: outputFile)
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    let deadline = Date(timeIntervalSinceNow: timeoutSeconds)
    while process.isRunning && Date() < deadline {
        Thread.sleep(forTimeInterval: 0.05)
    }
    let timedOut = process.isRunning
    if timedOut {
        process.terminate()
    }
    process.waitUntilExit()
    try handle.close()
    let output = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
    if timedOut {
        XCTFail("\(executable.lastPathComponent) \(arguments) timed out after \(timeoutSeconds) s; output:\n\(output)",
                file: file, line: line)
    }
    return JobResult(exitCode: process.terminationStatus, output: output)
}

/// The largest absolute difference between two dumps' arrays, with the array it occurs in.
func maxAbsoluteDifference(_ a: ParameterDump, _ b: ParameterDump) -> (value: Float, array: String) {
    precondition(a.arrays.map(\.name) == b.arrays.map(\.name), "dumps hold different arrays")
    var worst: (value: Float, array: String) = (0, "")
    for (left, right) in zip(a.arrays, b.arrays) {
        precondition(left.values.count == right.values.count, "\(left.name) has different sizes")
        for (x, y) in zip(left.values, right.values) where abs(x - y) > worst.value || x.isNaN || y.isNaN {
            worst = (x.isNaN || y.isNaN ? .infinity : abs(x - y), left.name)
        }
    }
    return worst
}
