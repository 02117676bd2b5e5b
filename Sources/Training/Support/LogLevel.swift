import Foundation

/// Severity of a log message, lowest first.
public enum LogLevel: Int, Comparable, CaseIterable, Sendable {
    case debug
    case info
    case warning
    case error

    /// Environment variable that sets the level when the command line does not.
    public static let environmentVariable = "TRAINER_LOG_LEVEL"

    /// Level used when neither the command line nor the environment sets one.
    public static let defaultLevel = LogLevel.info

    /// Upper-case name written in each log line.
    public var label: String {
        switch self {
        case .debug: return "DEBUG"
        case .info: return "INFO"
        case .warning: return "WARNING"
        case .error: return "ERROR"
        }
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    /// Parses `debug`, `info`, `warning` (or `warn`) and `error`, ignoring case and surrounding
    /// spaces.
    ///
    /// - Parameter source: where the text came from, for the error message, such as
    ///   "--log-level" or the environment variable name.
    /// - Throws: `LogLevelError` naming the text and its source.
    public init(parsing text: String, source: String) throws {
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "debug": self = .debug
        case "info": self = .info
        case "warning", "warn": self = .warning
        case "error": self = .error
        default: throw LogLevelError(value: text, source: source)
        }
    }

    /// Chooses the level from the command-line value if given, else from
    /// `TRAINER_LOG_LEVEL` if set and not empty, else `defaultLevel`.
    ///
    /// - Parameters:
    ///   - commandLineValue: the value of the command-line option, `nil` when it was not given.
    ///   - commandLineOption: the option's name, for the error message.
    ///   - environment: the process environment; tests pass their own.
    public static func resolve(commandLineValue: String?, commandLineOption: String = "--log-level",
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> LogLevel {
        if let commandLineValue {
            return try LogLevel(parsing: commandLineValue, source: commandLineOption)
        }
        if let environmentValue = environment[environmentVariable], !environmentValue.isEmpty {
            return try LogLevel(parsing: environmentValue, source: environmentVariable)
        }
        return defaultLevel
    }
}

/// A log level text that is not one of the known names.
public struct LogLevelError: Error, Equatable, CustomStringConvertible {
    /// The text as given.
    public var value: String
    /// The option or environment variable it came from.
    public var source: String

    public var description: String {
        let names = LogLevel.allCases.map { $0.label.lowercased() }.joined(separator: ", ")
        return "invalid log level '\(value)' in \(source); expected one of \(names)"
    }
}
