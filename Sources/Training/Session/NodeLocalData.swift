import Communication
import DataPipeline
import Foundation

/// Prepared data on clusters whose nodes do not share the cache folder.
///
/// Rank 0 prepares the data first. Each rank then looks for the same file name in its own cache
/// folder. On a host where some rank does not find it, the lowest such rank prepares a copy
/// there, and the other ranks of that host wait and open it. A rank that still finds no file (a
/// private folder under a shared host name) prepares its own. Preparation is deterministic, so a
/// copy built from the same inputs contains the same rows and vocabularies (only the recorded
/// preparation time differs). The fingerprints of all ranks are compared at the end, which catches
/// nodes whose input files differ.
enum NodeLocalData {
    /// Returns the ranks that prepare a copy: on each host, the lowest rank that does not see the
    /// prepared file, if any rank of that host does not.
    static func preparers(hosts: [String], seesFile: [Bool]) -> [Int] {
        precondition(hosts.count == seesFile.count, "\(hosts.count) hosts but \(seesFile.count) visibility flags")
        var chosen: [String: Int] = [:]
        for rank in hosts.indices where !seesFile[rank] && chosen[hosts[rank]] == nil {
            chosen[hosts[rank]] = rank
        }
        return chosen.values.sorted()
    }

    /// Returns the error for ranks whose data fingerprint differs from rank 0's, or nil when all
    /// agree.
    static func mismatch(fingerprints: [UInt64], hosts: [String]) -> TrainerError? {
        let differing = fingerprints.indices.filter { fingerprints[$0] != fingerprints[0] }
        guard !differing.isEmpty else { return nil }
        let ranks = differing.map { "rank \($0) on \(hosts[$0])" }.joined(separator: ", ")
        return .dataMismatch(message: "\(ranks) prepared data whose fingerprint differs from rank 0's on \(hosts[0]) "
            + "(\(String(format: "%016llx", fingerprints[differing[0]])) against \(String(format: "%016llx", fingerprints[0]))): "
            + "the input files under data.directory differ between nodes; copy the same files to every node")
    }

    /// Returns `path` made absolute against the current directory, as the data preparation does.
    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            .appendingPathComponent(path).standardizedFileURL.path
    }

    /// Returns this machine's host name, or "unknown host" if the system does not give one.
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown host" }
        return String(cString: buffer)
    }

    /// Opens the prepared data on every rank, given the path where rank 0 prepared it; collective.
    static func open(rootPath: String, options: RunOptions, communicator: Communicator,
                     logger: Logger) throws -> PreparedDataset {
        let fileName = URL(fileURLWithPath: rootPath).lastPathComponent
        let localPath = URL(fileURLWithPath: absolute(options.cacheDirectory))
            .appendingPathComponent(fileName).path
        let host = hostName()
        let hosts = try communicator.allgatherv(Array(host.utf8)).map { String(decoding: $0, as: UTF8.self) }
        // A damaged or truncated file counts as missing, so its host rebuilds it.
        let existing = try? PreparedDataset.open(path: localPath)
        let seesFile = try communicator.allgather(existing != nil ? UInt8(1) : 0).map { $0 == 1 }
        let preparers = preparers(hosts: hosts, seesFile: seesFile)

        // The preparers' paths travel to every rank, so the other ranks of a host open the copy
        // of that host even when its inputs differ from rank 0's (the fingerprint check below then reports it).
        let preparedPath = try communicator.runOnEveryRank { () -> String in
            guard preparers.contains(communicator.rank) else { return "" }
            let result = try DataPreparation.prepare(config: options.config.data, dataDirectory: nil,
                                                     cacheDirectory: options.cacheDirectory)
            logger.warning("prepared a copy of the data on \(host): \(result.path) (rank 0's file is missing or damaged "
                        + "in this node's cache folder \(absolute(options.cacheDirectory)))")
            return result.path
        }
        let preparedPaths = try communicator.allgatherv(Array(preparedPath.utf8)).map { String(decoding: $0, as: UTF8.self) }
        let dataset = try communicator.runOnEveryRank { () -> PreparedDataset in
            if let existing { return existing }
            guard let preparer = preparers.first(where: { hosts[$0] == host }) else {
                preconditionFailure("rank \(communicator.rank) has no data and no preparer on \(host)")
            }
            let path = preparedPaths[preparer]
            if let copy = try? PreparedDataset.open(path: path) { return copy }
            // Ranks that share a host name need not share a disk (containers with private
            // folders), so a rank that cannot see its host's copy prepares its own.
            let result = try DataPreparation.prepare(config: options.config.data, dataDirectory: nil,
                                                     cacheDirectory: options.cacheDirectory)
            logger.warning("prepared a copy of the data for rank \(communicator.rank) on \(host): \(result.path) "
                           + "(it does not see the copy that rank \(preparer) prepared at \(path))")
            return try PreparedDataset.open(path: result.path)
        }
        if let error = mismatch(fingerprints: try communicator.allgather(dataset.fingerprint), hosts: hosts) {
            // Every rank finds the same difference, so every rank stops here together.
            throw CollectiveFailure(message: String(describing: error), underlying: error)
        }
        return dataset
    }
}
