import Foundation

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
        let logTable = try CSVReader.parse(bytes: log.bytes, fileName: log.name, errors: config.errors)
        let sides = try sideTables.map { try CSVReader.parse(bytes: $0.bytes, fileName: $0.name, errors: config.errors) }
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
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path)
                ? "cannot read the file" : "file not found; check data.directory or --data-dir"
            throw DataError.fileAccess(path: path, reason: reason)
        }
        return File(name: name, path: path, bytes: [UInt8](data))
    }
}
