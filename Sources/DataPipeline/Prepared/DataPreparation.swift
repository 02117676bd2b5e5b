import Foundation

/// The outcome of `DataPreparation.prepare`.
public struct PreparationResult: Sendable {
    /// Path of the prepared file, ready for `PreparedDataset.open(path:)`.
    public var path: String
    /// Counts from the build that wrote the file (an earlier run if the file was reused).
    public var report: PreparationReport
    /// Whether an existing prepared file with the same fingerprint was reused.
    public var reusedCache: Bool
    /// Fingerprint of the canonical config and the input file contents.
    public var fingerprint: UInt64
    /// Wall time of this call, including hashing the input files, in seconds.
    public var secondsTaken: Double
    /// Wall time of each phase of this call.
    public var phaseSeconds: PreparationPhaseSeconds
}

/// Entry points that turn a data config into encoded training data.
public enum DataPreparation {
    /// Reads, parses and encodes the input files in memory. `dataDirectory` overrides
    /// `config.directory`; a relative path resolves against the current working directory.
    public static func buildDataset(config: DataConfig, dataDirectory: String? = nil) throws -> EncodedDataset {
        let started = Date()
        var dataset = try InputFiles(config: config, dataDirectory: dataDirectory).build(config: config)
        dataset.report.secondsTaken = Date().timeIntervalSince(started)
        return dataset
    }

    /// Returns a prepared file for `config` in `cacheDirectory`, named
    /// `prepared-<fingerprint>.bin`, building and writing it only if no valid file with that
    /// fingerprint exists. An invalid existing file (truncated, corrupt) is rebuilt.
    public static func prepare(config: DataConfig, dataDirectory: String?,
                               cacheDirectory: String) throws -> PreparationResult {
        let started = Date()
        var stopwatch = PhaseStopwatch()
        var phases = PreparationPhaseSeconds()
        let inputs = try InputFiles(config: config, dataDirectory: dataDirectory)
        phases.read = stopwatch.lap()
        let fingerprint = try Self.fingerprint(config: config, inputs: inputs)
        phases.fingerprint = stopwatch.lap()
        let cache = InputFiles.absolute(cacheDirectory)
        let path = URL(fileURLWithPath: cache)
            .appendingPathComponent("prepared-\(hexadecimal(fingerprint)).bin").path

        if FileManager.default.fileExists(atPath: path) {
            do {
                let existing = try PreparedDataset.open(path: path)
                if existing.fingerprint == fingerprint {
                    return PreparationResult(path: path, report: existing.report, reusedCache: true,
                                             fingerprint: fingerprint,
                                             secondsTaken: Date().timeIntervalSince(started), phaseSeconds: phases)
                }
            } catch DataError.invalidPreparedFile {
                // Fall through: the file is rebuilt and replaced below.
            }
        }

        _ = stopwatch.lap()
        var dataset = try inputs.build(config: config, phaseSeconds: &phases)
        dataset.report.secondsTaken = Date().timeIntervalSince(started)
        _ = stopwatch.lap()
        do {
            try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        } catch {
            throw DataError.fileAccess(path: cache, reason: "cannot create the cache folder: \(error.localizedDescription)")
        }
        try PreparedFileFormat.writeAtomically(dataset, fingerprint: fingerprint, to: path)
        phases.write = stopwatch.lap()
        return PreparationResult(path: path, report: dataset.report, reusedCache: false,
                                 fingerprint: fingerprint, secondsTaken: Date().timeIntervalSince(started),
                                 phaseSeconds: phases)
    }

    /// Writes `dataset` as a prepared file at `path` (atomically), for callers that built it
    /// themselves.
    public static func write(_ dataset: EncodedDataset, fingerprint: UInt64, to path: String) throws {
        try PreparedFileFormat.writeAtomically(dataset, fingerprint: fingerprint, to: path)
    }

    /// Returns the hash of the format version, the config without its directory (sorted-key
    /// JSON) and each input file's name and `StableHash.contentHash` of its bytes. The directory
    /// is left out because `--data-dir` may point to a copy of the same files.
    static func fingerprint(config: DataConfig, inputs: InputFiles) throws -> UInt64 {
        var canonical = config
        canonical.directory = ""
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var hash = StableHash.fnv1a("prepared format \(PreparedFileFormat.version)")
        hash = StableHash.fnv1a(Array(try encoder.encode(canonical)), seed: hash)
        for file in [inputs.log] + inputs.sideTables {
            hash = StableHash.fnv1a(file.name, seed: hash)
            var contentHash = withExtendedLifetime(file.storage) { StableHash.contentHash(UnsafeRawBufferPointer(file.bytes)) }
            hash = withUnsafeBytes(of: &contentHash) { StableHash.fnv1a($0.bindMemory(to: UInt8.self), seed: hash) }
        }
        return hash
    }

    static func hexadecimal(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
