import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes log lines for one rank, each in the form
///
///     2026-12-04T20:31:05.123Z [rank 0/4] INFO message
///
/// with a UTC timestamp in milliseconds, the rank out of the world size W, and the level.
///
/// Rank 0 writes messages at `level` and above to standard output. Other ranks write only
/// warnings and errors, to standard error, so that W ranks do not repeat every progress line.
/// The exception is `debug`, which applies to every rank because a hang is traced per rank.
///
/// Each in-process rank (a thread) owns its `Logger`. All loggers may be called from any thread:
/// every message goes to its sinks in one `write` call under the sink's lock, so lines never mix.
public final class Logger: Sendable {
    public let rank: Int
    public let worldSize: Int
    /// Lowest level this rank writes, after the rank rule above.
    public let threshold: LogLevel

    private let console: LogSink
    private let mirror: LogSink?
    private let clock: @Sendable () -> Date

    /// Creates the logger of one rank.
    ///
    /// - Parameters:
    ///   - level: the level requested on the command line or in `TRAINER_LOG_LEVEL`; see
    ///     `LogLevel.resolve`.
    ///   - mirror: a second sink that receives the same lines, normally rank 0's `train.log`.
    ///   - console: where lines go instead of stdout (rank 0) or stderr (other ranks); tests
    ///     pass a recording sink.
    ///   - clock: the time source of the timestamps.
    public init(rank: Int, worldSize: Int, level: LogLevel = LogLevel.defaultLevel, mirror: LogSink? = nil,
                console: LogSink? = nil, clock: @escaping @Sendable () -> Date = { Date() }) {
        precondition(worldSize > 0 && rank >= 0 && rank < worldSize,
                     "logger rank must be in 0..<worldSize, got rank \(rank) of \(worldSize)")
        self.rank = rank
        self.worldSize = worldSize
        self.threshold = Self.threshold(rank: rank, requested: level)
        self.console = console ?? (rank == 0 ? StandardStreamSink.standardOutput : StandardStreamSink.standardError)
        self.mirror = mirror
        self.clock = clock
    }

    /// Returns the lowest level a rank writes when `requested` is asked for.
    public static func threshold(rank: Int, requested: LogLevel) -> LogLevel {
        if rank == 0 || requested == .debug { return requested }
        return max(requested, .warning)
    }

    /// Returns whether a message at `level` would be written; use it to skip building
    /// expensive messages.
    public func isEnabled(_ level: LogLevel) -> Bool {
        level >= threshold
    }

    /// Writes `message` at `level` if enabled. A message with several lines gets the prefix on
    /// each line.
    public func log(_ level: LogLevel, _ message: @autoclosure () -> String) {
        guard isEnabled(level) else { return }
        let text = Self.formatLines(date: clock(), rank: rank, worldSize: worldSize, level: level, message: message())
        console.write(text)
        mirror?.write(text)
    }

    public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    public func error(_ message: @autoclosure () -> String) { log(.error, message()) }

    /// Formats `message` as log lines, each ending in a newline.
    public static func formatLines(date: Date, rank: Int, worldSize: Int, level: LogLevel, message: String) -> String {
        let prefix = "\(timestamp(date)) [rank \(rank)/\(worldSize)] \(level.label) "
        var text = ""
        for line in message.split(separator: "\n", omittingEmptySubsequences: false) {
            text += prefix + line + "\n"
        }
        return text
    }

    /// Formats `date` as UTC ISO 8601 with milliseconds, `2026-12-04T20:31:05.123Z`.
    ///
    /// Built from `gmtime_r`, which is thread-safe, so rank threads share no formatter object.
    public static func timestamp(_ date: Date) -> String {
        let totalMilliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(totalMilliseconds.floorDivided(by: 1000))
        let milliseconds = Int(totalMilliseconds - Int64(seconds) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)

        return padded(Int(parts.tm_year) + 1900, 4) + "-" + padded(Int(parts.tm_mon) + 1, 2) + "-"
            + padded(Int(parts.tm_mday), 2) + "T" + padded(Int(parts.tm_hour), 2) + ":"
            + padded(Int(parts.tm_min), 2) + ":" + padded(Int(parts.tm_sec), 2) + "."
            + padded(milliseconds, 3) + "Z"
    }

    private static func padded(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

extension Int64 {
    /// Division rounding toward negative infinity, so times before 1970 keep positive
    /// milliseconds.
    fileprivate func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
