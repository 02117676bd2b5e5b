import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The output folder of one training run, `<runs>/<name>/`, holding
///
///     config.json     the configuration as used, pretty-printed with sorted keys
///     train.log       rank 0's log lines (open it with `LogFile(url: logFileURL)`)
///     metrics.json    the latest evaluation, replaced atomically
///     metrics.jsonl   one JSON object per line, appended per evaluation
///
/// Only rank 0 creates and writes a run directory; other ranks never touch it.
public struct RunDirectory: Sendable {
    public static let configFileName = "config.json"
    public static let logFileName = "train.log"
    public static let metricsFileName = "metrics.json"
    public static let metricsLinesFileName = "metrics.jsonl"

    /// The run's folder.
    public let url: URL

    public var configURL: URL { url.appendingPathComponent(Self.configFileName) }
    public var logFileURL: URL { url.appendingPathComponent(Self.logFileName) }
    public var metricsURL: URL { url.appendingPathComponent(Self.metricsFileName) }
    public var metricsLinesURL: URL { url.appendingPathComponent(Self.metricsLinesFileName) }

    /// Creates `<runsRoot>/<name>/`, and `runsRoot` itself when missing.
    ///
    /// - Parameters:
    ///   - name: the folder name; `nil` uses `timestampName(modelName:date:)`.
    ///   - overwrite: reuse an existing non-empty folder. The run files listed above are removed
    ///     first, so the logs and metric lines of an old run do not mix with the new ones. Other
    ///     files are kept.
    /// - Throws: `RunDirectoryError` when the name is invalid, the folder exists with content and
    ///   `overwrite` is false, the path is a file, or the folder cannot be created.
    public static func create(runsRoot: URL, name: String? = nil, modelName: String, overwrite: Bool = false,
                              date: Date = Date()) throws -> RunDirectory {
        let folderName = name ?? timestampName(modelName: modelName, date: date)
        guard !folderName.isEmpty, folderName != ".", folderName != "..", !folderName.contains("/") else {
            throw RunDirectoryError.invalidName(name: folderName)
        }
        let run = RunDirectory(url: runsRoot.appendingPathComponent(folderName, isDirectory: true))
        let fileManager = FileManager.default

        var isDirectory: ObjCBool = false
        if fileManager.fileExists(atPath: run.url.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw RunDirectoryError.notADirectory(path: run.url.path) }
            let contents = (try? fileManager.contentsOfDirectory(atPath: run.url.path)) ?? []
            if !contents.isEmpty {
                guard overwrite else { throw RunDirectoryError.notEmpty(path: run.url.path) }
                try run.removeRunFiles()
            }
        } else {
            do {
                try fileManager.createDirectory(at: run.url, withIntermediateDirectories: true)
            } catch {
                throw RunDirectoryError.createFailed(path: run.url.path, reason: Self.reason(error))
            }
        }
        return run
    }

    /// Returns the default folder name: UTC date and time, then the model, as `20261204-203105-pepnet`.
    public static func timestampName(modelName: String, date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let model = modelName.lowercased().map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" }
        return formatter.string(from: date) + "-" + String(model)
    }

    /// Writes `config.json`: `config` pretty-printed with sorted keys, replaced atomically.
    public func writeConfig<Config: Encodable>(_ config: Config) throws {
        let data = try encode(config, to: configURL, formatting: [.prettyPrinted, .sortedKeys])
        try Self.writeAtomically(data + Data("\n".utf8), to: configURL)
    }

    /// Writes `metrics.json`: `metrics` pretty-printed with sorted keys, replaced atomically so
    /// that a reader never sees a half-written file.
    public func writeMetrics<Metrics: Encodable>(_ metrics: Metrics) throws {
        let data = try encode(metrics, to: metricsURL, formatting: [.prettyPrinted, .sortedKeys])
        try Self.writeAtomically(data + Data("\n".utf8), to: metricsURL)
    }

    /// Appends `record` to `metrics.jsonl` as one line of compact JSON with sorted keys.
    public func appendMetricsLine<Record: Encodable>(_ record: Record) throws {
        // Compact JSON escapes newlines inside strings, so the record stays on one line.
        let data = try encode(record, to: metricsLinesURL, formatting: [.sortedKeys, .withoutEscapingSlashes])
        try Self.append(data + Data("\n".utf8), to: metricsLinesURL)
    }

    private func encode<Value: Encodable>(_ value: Value, to url: URL,
                                          formatting: JSONEncoder.OutputFormatting) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = formatting.union(.withoutEscapingSlashes)
        do {
            return try encoder.encode(value)
        } catch {
            throw RunDirectoryError.encodingFailed(path: url.path, reason: Self.reason(error))
        }
    }

    private func removeRunFiles() throws {
        for file in [configURL, logFileURL, metricsURL, metricsLinesURL]
        where FileManager.default.fileExists(atPath: file.path) {
            do {
                try FileManager.default.removeItem(at: file)
            } catch {
                throw RunDirectoryError.writeFailed(path: file.path, reason: Self.reason(error))
            }
        }
    }

    private static func reason(_ error: Error) -> String {
        (error as NSError).localizedFailureReason ?? error.localizedDescription
    }
}
