import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A snapshot of training progress, formatted as one fixed-format line:
///
///     epoch 1/1  step 120/192  62.5%  23,456 rows/s  loss is_click 0.5521 long_view 0.5012  eta 12s
///
/// The percentage and the ETA come from rows, because the last batch of an epoch may be short.
public struct ProgressLine: Equatable, Sendable {
    /// Current epoch, counted from 1.
    public var epoch: Int
    public var epochCount: Int
    /// Steps done in this epoch.
    public var step: Int
    public var stepCount: Int
    /// Rows done in this epoch, on all ranks together.
    public var rowsDone: Int
    public var rowsTotal: Int
    /// Wall time since the epoch started.
    public var elapsedSeconds: Double
    /// Task names `[T]`.
    public var taskNames: [String]
    /// Recent mean loss of each task `[T]`.
    public var losses: [Double]
    /// Rows already done when the clock started (a resumed epoch); the rate counts only the rest.
    public var rowsAtStart: Int

    public init(epoch: Int, epochCount: Int, step: Int, stepCount: Int, rowsDone: Int, rowsTotal: Int,
                elapsedSeconds: Double, taskNames: [String], losses: [Double], rowsAtStart: Int = 0) {
        precondition(taskNames.count == losses.count,
                     "progress needs one loss per task, got \(taskNames.count) names and \(losses.count) losses")
        self.epoch = epoch
        self.epochCount = epochCount
        self.step = step
        self.stepCount = stepCount
        self.rowsDone = rowsDone
        self.rowsTotal = rowsTotal
        self.elapsedSeconds = elapsedSeconds
        self.taskNames = taskNames
        self.losses = losses
        self.rowsAtStart = rowsAtStart
    }

    /// Rows per second so far, or `nil` before any time has passed.
    public var rowsPerSecond: Double? {
        elapsedSeconds > 0 ? Double(rowsDone - rowsAtStart) / elapsedSeconds : nil
    }

    /// Estimated seconds until `rowsTotal`, assuming the rate so far; `nil` while no rate is
    /// known.
    public var etaSeconds: Double? {
        guard let rate = rowsPerSecond, rate > 0 else { return nil }
        return Double(max(0, rowsTotal - rowsDone)) / rate
    }

    /// Formats the line without a trailing newline. Unknown values print as `-`.
    public func formatted() -> String {
        let percent = rowsTotal > 0 ? String(format: "%.1f%%", 100 * Double(rowsDone) / Double(rowsTotal)) : "-%"
        let rate = rowsPerSecond.map { ThousandsSeparator.format(Int($0.rounded())) } ?? "-"
        var parts = ["epoch \(epoch)/\(epochCount)", "step \(step)/\(stepCount)", percent, "\(rate) rows/s"]
        if !taskNames.isEmpty {
            let pairs = zip(taskNames, losses).map { name, loss in "\(name) \(String(format: "%.4f", loss))" }
            parts.append("loss " + pairs.joined(separator: " "))
        }
        parts.append("eta " + (etaSeconds.map(Self.formatDuration) ?? "-"))
        return parts.joined(separator: "  ")
    }

    /// Formats the line behind a bar of `width` cells for a terminal: a carriage return first,
    /// and an erase to the end of the line last, so that each call redraws the same line.
    public func formattedBar(width: Int = 24) -> String {
        let fraction = rowsTotal > 0 ? min(1, max(0, Double(rowsDone) / Double(rowsTotal))) : 0
        let filled = Int((fraction * Double(width)).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        return "\r[\(bar)] " + formatted() + "\u{1B}[K"
    }

    /// Formats a duration as `12s`, `3m05s` or `1h02m`.
    public static func formatDuration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        if total < 60 { return "\(total)s" }
        if total < 3_600 { return "\(total / 60)m" + twoDigits(total % 60) + "s" }
        return "\(total / 3_600)h" + twoDigits(total % 3_600 / 60) + "m"
    }

    private static func twoDigits(_ value: Int) -> String {
        value < 10 ? "0\(value)" : "\(value)"
    }
}

/// Display mode of progress: a bar redrawn in place on a terminal, or whole lines in a log file
/// or pipe, where carriage returns would pile up.
public enum ProgressStyle: Sendable {
    case bar
    case lines

    /// Returns `.bar` when standard output is a terminal, else `.lines`. Ranks started by
    /// mpirun get `.lines`: Open MPI hands them a pseudo-terminal even when mpirun's own output
    /// goes to a file or pipe, so `isatty` cannot tell.
    public static func forStandardOutput(environment: [String: String] = ProcessInfo.processInfo.environment) -> ProgressStyle {
        if environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMIX_RANK"] != nil {
            return .lines
        }
        return isatty(STDOUT_FILENO) != 0 ? .bar : .lines
    }
}

/// Decides when to print progress: the first update, then at most once per interval, and
/// always the final one.
public struct ProgressThrottle: Sendable {
    /// Redraw interval of a bar on a terminal, fast enough to look live.
    public static let barIntervalSeconds = 0.2

    /// Minimum time between two printed updates.
    public let intervalSeconds: Double
    private var lastPrintSeconds: Double?

    /// - Parameter lineIntervalSeconds: interval for `.lines`; `.bar` uses `barIntervalSeconds`.
    public init(style: ProgressStyle, lineIntervalSeconds: Double = 30) {
        precondition(lineIntervalSeconds >= 0, "progress interval must not be negative, got \(lineIntervalSeconds)")
        intervalSeconds = style == .bar ? Self.barIntervalSeconds : lineIntervalSeconds
    }

    /// Returns whether to print now, and if so records `nowSeconds` as the last print.
    ///
    /// - Parameters:
    ///   - nowSeconds: a monotonic clock reading, such as `ProcessInfo.processInfo.systemUptime`.
    ///   - isFinal: the last update of an epoch, which always prints.
    public mutating func shouldPrint(nowSeconds: Double = ProcessInfo.processInfo.systemUptime,
                                     isFinal: Bool = false) -> Bool {
        if let lastPrintSeconds, !isFinal, nowSeconds - lastPrintSeconds < intervalSeconds {
            return false
        }
        lastPrintSeconds = nowSeconds
        return true
    }
}
