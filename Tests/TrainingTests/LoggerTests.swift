import Foundation
import XCTest
@testable import Training

/// Sink that keeps every write, for checking what a logger emits.
private final class RecordingSink: LogSink, @unchecked Sendable {
    // @unchecked: `texts` is only accessed while holding `lock`.
    private let lock = NSLock()
    private var texts: [String] = []

    func write(_ text: String) {
        lock.lock()
        texts.append(text)
        lock.unlock()
    }

    var lines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return texts.joined().split(separator: "\n").map(String.init)
    }
}

/// Parts of a log line, or `nil` when the line does not have the documented format.
private func parseLogLine(_ line: String) -> (timestamp: String, rank: Int, worldSize: Int, level: String, message: String)? {
    let pattern = #"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z) \[rank (\d+)/(\d+)\] (DEBUG|INFO|WARNING|ERROR) (.*)$"#
    let expression = try! NSRegularExpression(pattern: pattern)
    let range = NSRange(line.startIndex..., in: line)
    guard let match = expression.firstMatch(in: line, range: range) else { return nil }
    let group = { (index: Int) in String(line[Range(match.range(at: index), in: line)!]) }
    return (group(1), Int(group(2))!, Int(group(3))!, group(4), group(5))
}

/// Returns the instant 2026-12-04T20:31:05 UTC plus `milliseconds`, built from calendar fields.
private func referenceDate(milliseconds: Double) -> Date {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let components = DateComponents(year: 2026, month: 12, day: 4, hour: 20, minute: 31, second: 5)
    return calendar.date(from: components)!.addingTimeInterval(milliseconds / 1000)
}

final class LoggerTests: XCTestCase {
    func testLineFormat() throws {
        let sink = RecordingSink()
        let date = referenceDate(milliseconds: 123)
        let logger = Logger(rank: 0, worldSize: 4, level: .info, console: sink, clock: { date })
        logger.info("step 120 done")

        XCTAssertEqual(sink.lines, ["2026-12-04T20:31:05.123Z [rank 0/4] INFO step 120 done"])
        let parsed = try XCTUnwrap(parseLogLine(sink.lines[0]))
        XCTAssertEqual(parsed.rank, 0)
        XCTAssertEqual(parsed.worldSize, 4)
        XCTAssertEqual(parsed.level, "INFO")
        XCTAssertEqual(parsed.message, "step 120 done")
    }

    func testTimestampTruncatesMilliseconds() {
        XCTAssertEqual(Logger.timestamp(referenceDate(milliseconds: 0)), "2026-12-04T20:31:05.000Z")
        XCTAssertEqual(Logger.timestamp(referenceDate(milliseconds: 999.6)), "2026-12-04T20:31:05.999Z")
        XCTAssertEqual(Logger.timestamp(Date(timeIntervalSince1970: 0)), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(Logger.timestamp(Date(timeIntervalSince1970: -0.5)), "1969-12-31T23:59:59.500Z")
    }

    func testMultilineMessagePrefixesEachLine() {
        let sink = RecordingSink()
        let logger = Logger(rank: 2, worldSize: 3, level: .info, console: sink, clock: { referenceDate(milliseconds: 7) })
        logger.error("first\nsecond")

        XCTAssertEqual(sink.lines, ["2026-12-04T20:31:05.007Z [rank 2/3] ERROR first",
                                    "2026-12-04T20:31:05.007Z [rank 2/3] ERROR second"])
    }

    func testRankZeroWritesInfoAndAbove() {
        let sink = RecordingSink()
        let logger = Logger(rank: 0, worldSize: 2, level: .info, console: sink)
        logSampleLevels(logger)
        XCTAssertEqual(sink.lines.compactMap { parseLogLine($0)?.level }, ["INFO", "WARNING", "ERROR"])
    }

    func testOtherRanksWriteWarningsAndErrors() {
        let sink = RecordingSink()
        let logger = Logger(rank: 1, worldSize: 2, level: .info, console: sink)
        logSampleLevels(logger)
        XCTAssertEqual(sink.lines.compactMap { parseLogLine($0)?.level }, ["WARNING", "ERROR"])
    }

    func testDebugLevelEnablesEveryRank() {
        let sink = RecordingSink()
        let logger = Logger(rank: 3, worldSize: 4, level: .debug, console: sink)
        logSampleLevels(logger)
        XCTAssertEqual(sink.lines.compactMap { parseLogLine($0)?.level }, ["DEBUG", "INFO", "WARNING", "ERROR"])
    }

    func testThresholdTable() {
        let cases: [(rank: Int, requested: LogLevel, expected: LogLevel)] = [
            (0, .debug, .debug), (0, .info, .info), (0, .warning, .warning), (0, .error, .error),
            (1, .debug, .debug), (1, .info, .warning), (1, .warning, .warning), (1, .error, .error),
        ]
        for (rank, requested, expected) in cases {
            XCTAssertEqual(Logger.threshold(rank: rank, requested: requested), expected,
                           "rank \(rank) requested \(requested)")
        }
    }

    func testMirrorFileGetsSameLines() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("logger-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: url) }
        let file = try LogFile(url: url)
        let console = RecordingSink()
        let logger = Logger(rank: 0, worldSize: 1, level: .info, mirror: file, console: console)
        logger.info("one")
        logger.debug("hidden")
        logger.warning("two")
        file.close()

        let written = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(written, console.lines)
        XCTAssertEqual(written.count, 2)
    }

    func testConcurrentLinesStayWhole() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("logger-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: url) }
        let file = try LogFile(url: url)
        let worldSize = 6
        let linesPerRank = 300
        let loggers = (0..<worldSize).map { Logger(rank: $0, worldSize: worldSize, level: .debug, console: file) }
        let payload = String(repeating: "x", count: 200)

        DispatchQueue.concurrentPerform(iterations: worldSize) { rank in
            for index in 0..<linesPerRank {
                loggers[rank].warning("line \(index) \(payload)")
            }
        }
        file.close()

        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, worldSize * linesPerRank)
        let parsed = lines.compactMap(parseLogLine)
        XCTAssertEqual(parsed.count, lines.count, "every line must keep the log format")
        for rank in 0..<worldSize {
            XCTAssertEqual(parsed.filter { $0.rank == rank }.count, linesPerRank, "rank \(rank)")
        }
        XCTAssertTrue(parsed.allSatisfy { $0.message.hasSuffix(payload) })
    }

    func testLogFileClosesAfterWriteFailure() throws {
        // Writes to /dev/full fail with "No space left on device", like a full disk.
        try XCTSkipUnless(FileManager.default.fileExists(atPath: "/dev/full"), "/dev/full is missing")
        let file = try LogFile(url: URL(fileURLWithPath: "/dev/full"))
        XCTAssertTrue(file.isOpen)
        Logger(rank: 0, worldSize: 1, console: file).info("lost")
        XCTAssertFalse(file.isOpen)
    }

    func testLogFileOpenFailureNamesPath() {
        let url = URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString)/train.log")
        XCTAssertThrowsError(try LogFile(url: url)) { error in
            XCTAssertEqual((error as? LogFileError)?.path, url.path)
            XCTAssertTrue("\(error)".contains(url.path))
        }
    }

    func testLevelParsing() throws {
        let cases: [(String, LogLevel)] = [("debug", .debug), ("INFO", .info), (" Warning ", .warning),
                                           ("warn", .warning), ("error", .error)]
        for (text, expected) in cases {
            XCTAssertEqual(try LogLevel(parsing: text, source: "--log-level"), expected, "text '\(text)'")
        }
    }

    func testLevelParsingErrorNamesValue() {
        XCTAssertThrowsError(try LogLevel(parsing: "verbose", source: "--log-level")) { error in
            XCTAssertEqual(error as? LogLevelError, LogLevelError(value: "verbose", source: "--log-level"))
            XCTAssertEqual("\(error)", "invalid log level 'verbose' in --log-level; expected one of debug, info, warning, error")
        }
    }

    func testResolveOrder() throws {
        let environment = [LogLevel.environmentVariable: "error"]
        XCTAssertEqual(try LogLevel.resolve(commandLineValue: "debug", environment: environment), .debug)
        XCTAssertEqual(try LogLevel.resolve(commandLineValue: nil, environment: environment), .error)
        XCTAssertEqual(try LogLevel.resolve(commandLineValue: nil, environment: [:]), .info)
        XCTAssertEqual(try LogLevel.resolve(commandLineValue: nil, environment: [LogLevel.environmentVariable: ""]), .info)
    }

    func testResolveErrorNamesEnvironmentVariable() {
        XCTAssertEqual(LogLevel.environmentVariable, "TRAINER_LOG_LEVEL")
        XCTAssertThrowsError(try LogLevel.resolve(commandLineValue: nil, environment: ["TRAINER_LOG_LEVEL": "loud"])) { error in
            XCTAssertEqual(error as? LogLevelError, LogLevelError(value: "loud", source: "TRAINER_LOG_LEVEL"))
        }
    }

    private func logSampleLevels(_ logger: Logger) {
        logger.debug("d")
        logger.info("i")
        logger.warning("w")
        logger.error("e")
    }
}

final class ProgressLineTests: XCTestCase {
    func testFormattedLine() {
        let progress = ProgressLine(epoch: 1, epochCount: 1, step: 120, stepCount: 192, rowsDone: 120_000,
                                    rowsTotal: 192_000, elapsedSeconds: 5, taskNames: ["is_click", "long_view", "is_like"],
                                    losses: [0.55214, 0.50118, 0.08006])
        XCTAssertEqual(progress.formatted(),
                       "epoch 1/1  step 120/192  62.5%  24,000 rows/s  loss is_click 0.5521 long_view 0.5012 is_like 0.0801  eta 3s")
    }

    func testFormattedLineBeforeAnyTime() {
        let progress = ProgressLine(epoch: 2, epochCount: 3, step: 0, stepCount: 10, rowsDone: 0, rowsTotal: 0,
                                    elapsedSeconds: 0, taskNames: [], losses: [])
        XCTAssertEqual(progress.formatted(), "epoch 2/3  step 0/10  -%  - rows/s  eta -")
    }

    func testFormattedBar() {
        let progress = ProgressLine(epoch: 1, epochCount: 1, step: 1, stepCount: 4, rowsDone: 25, rowsTotal: 100,
                                    elapsedSeconds: 1, taskNames: ["click"], losses: [0.5])
        XCTAssertEqual(progress.formattedBar(width: 8),
                       "\r[##------] epoch 1/1  step 1/4  25.0%  25 rows/s  loss click 0.5000  eta 3s\u{1B}[K")
    }

    func testDurationFormat() {
        let cases: [(Double, String)] = [(0, "0s"), (12.4, "12s"), (59.6, "1m00s"), (185, "3m05s"),
                                         (3_599, "59m59s"), (3_720, "1h02m"), (90_000, "25h00m")]
        for (seconds, expected) in cases {
            XCTAssertEqual(ProgressLine.formatDuration(seconds), expected, "seconds \(seconds)")
        }
    }

    func testThrottleForLines() {
        var throttle = ProgressThrottle(style: .lines, lineIntervalSeconds: 10)
        XCTAssertTrue(throttle.shouldPrint(nowSeconds: 100))
        XCTAssertFalse(throttle.shouldPrint(nowSeconds: 105))
        XCTAssertTrue(throttle.shouldPrint(nowSeconds: 105, isFinal: true))
        XCTAssertFalse(throttle.shouldPrint(nowSeconds: 114.9))
        XCTAssertTrue(throttle.shouldPrint(nowSeconds: 115))
    }

    func testThrottleForBar() {
        var throttle = ProgressThrottle(style: .bar, lineIntervalSeconds: 10)
        XCTAssertEqual(throttle.intervalSeconds, ProgressThrottle.barIntervalSeconds)
        XCTAssertTrue(throttle.shouldPrint(nowSeconds: 0))
        XCTAssertFalse(throttle.shouldPrint(nowSeconds: 0.1))
        XCTAssertTrue(throttle.shouldPrint(nowSeconds: 0.3))
    }
}
