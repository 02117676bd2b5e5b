import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The raw bytes of the log and side-table files named by a data config.
struct InputFiles {
    struct File {
        /// Name as in the config, used in error messages.
        let name: String
        let path: String
        let bytes: [UInt8]
    }

    let log: File
    let sideTables: [File]

    /// Reads every input file. `dataDirectory` overrides `config.directory`; a relative path
    /// resolves against the current working directory.
    init(config: DataConfig, dataDirectory: String?) throws {
        let directory = Self.absolute(dataDirectory ?? config.directory)
        log = try Self.read(name: config.log, directory: directory)
        sideTables = try config.joins.map { try Self.read(name: $0.file, directory: directory) }
    }

    /// Parses the files and builds the dataset.
    func build(config: DataConfig) throws -> EncodedDataset {
        var phaseSeconds = PreparationPhaseSeconds()
        return try build(config: config, phaseSeconds: &phaseSeconds)
    }

    /// Parses the files and builds the dataset, adding the time of each phase to `phaseSeconds`.
    func build(config: DataConfig, phaseSeconds: inout PreparationPhaseSeconds) throws -> EncodedDataset {
        var stopwatch = PhaseStopwatch()
        // The side tables are parsed beside the log; a log error is thrown first, as when the
        // files were parsed one after another.
        let (logTable, sides) = try ParallelWork.both({
            try CSVReader.parse(bytes: log.bytes, fileName: log.name, errors: config.errors)
        }, {
            try sideTables.map { try CSVReader.parse(bytes: $0.bytes, fileName: $0.name, errors: config.errors) }
        })
        phaseSeconds.parse += stopwatch.lap()
        return try DatasetBuilder(config: config, log: logTable, sideTables: sides).build(phaseSeconds: &phaseSeconds)
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            .appendingPathComponent(path).standardizedFileURL.path
    }

    private static func read(name: String, directory: String) throws -> File {
        let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
        guard let bytes = readWholeFile(path) else {
            let reason = FileManager.default.fileExists(atPath: path)
                ? "cannot read the file" : "file not found; check data.directory or --data-dir"
            throw DataError.fileAccess(path: path, reason: reason)
        }
        return File(name: name, path: path, bytes: bytes)
    }

    /// Returns the contents of the file at `path` read straight into an array, or `nil` if it
    /// cannot be opened or read.
    private static func readWholeFile(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }

        // The size from fstat is a hint only: a file that grows meanwhile is read to its end.
        let size = Int(status.st_size)
        var failed = false
        var bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            while initialized < size {
                let count = Glibc.read(descriptor, buffer.baseAddress! + initialized, size - initialized)
                if count < 0 {
                    if errno == EINTR { continue }
                    failed = true
                    return
                }
                if count == 0 { return }
                initialized += count
            }
        }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while !failed {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                failed = true
            } else if count == 0 {
                break
            } else {
                bytes.append(contentsOf: chunk[0..<count])
            }
        }
        return failed ? nil : bytes
    }
}
