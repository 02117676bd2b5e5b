import Foundation

/// The contents of the log and side-table files named by a data config, mapped into memory for
/// as long as the preparation runs.
struct InputFiles {
    struct File {
        /// Name as in the config, used in error messages.
        let name: String
        let path: String
        let storage: ByteStorage

        var bytes: UnsafeBufferPointer<UInt8> { storage.bytes }
    }

    let log: File
    let sideTables: [File]

    /// Opens every input file. `dataDirectory` overrides `config.directory`; a relative path
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
        let columns = DatasetBuilder.columnsRead(config: config)
        // The two pieces of the log and the side tables run as three tasks. On two cores the
        // side tables go to the core that finishes its log piece first, so the first piece is
        // made longer by half the side tables' bytes, which evens out the two cores' bytes.
        // With three or more cores all tasks run at once, and equal log pieces finish first.
        let sideBytes = sideTables.reduce(0) { $0 + $1.bytes.count }
        let firstPieceBytes = ProcessInfo.processInfo.activeProcessorCount == 2
            ? (log.bytes.count + sideBytes) / 2 : log.bytes.count / 2
        let logParse = try CSVSplitParse(storage: log.storage, fileName: log.name, errors: config.errors,
                                         columns: columns, firstPieceBytes: firstPieceBytes)

        // Each task writes only its own result. A log error is thrown first, as when the files
        // were parsed one after another.
        var firstHalf: Result<CSVParser, Error>?
        var secondHalf: CSVParser?
        var sides: Result<[CSVTable], Error>?
        DispatchQueue.concurrentPerform(iterations: 3) { task in
            switch task {
            case 0:
                firstHalf = Result { try logParse.parseFirst() }
            case 1:
                secondHalf = logParse.parseSecond()
            default:
                sides = Result {
                    try sideTables.map {
                        try CSVReader.parse(storage: $0.storage, fileName: $0.name, errors: config.errors,
                                            columns: columns)
                    }
                }
            }
        }
        let logTable = try logParse.table(first: try firstHalf!.get(), second: secondHalf)
        let parsedSideTables = try sides!.get()
        phaseSeconds.parse += stopwatch.lap()
        return try DatasetBuilder(config: config, log: logTable, sideTables: parsedSideTables).build(phaseSeconds: &phaseSeconds)
    }

    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            .appendingPathComponent(path).standardizedFileURL.path
    }

    private static func read(name: String, directory: String) throws -> File {
        let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
        guard let storage = ByteStorage.contents(ofFile: path) else {
            let reason = FileManager.default.fileExists(atPath: path)
                ? "cannot read the file" : "file not found; check data.directory or --data-dir"
            throw DataError.fileAccess(path: path, reason: reason)
        }
        return File(name: name, path: path, storage: storage)
    }
}
