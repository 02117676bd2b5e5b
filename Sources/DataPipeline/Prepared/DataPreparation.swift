import Foundation

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
}
