import DataPipeline
import Foundation
import Models
import Training

/// The built-in run of `trainer train` without `--config`: PEPNet on generated data, so a first
/// run needs no download.
enum QuickStart {
    /// Where the generated CSV files go unless `--data-dir` names another folder.
    static let defaultDataDirectory = "runs/synthetic-data"

    static func config() -> TrainerConfig {
        let model = ModelConfig(name: "pepnet", options: [
            "personaFeatures": .array([.string("user_id"), .string("item_id"), .string("author_id")]),
            "sceneFeature": .string("scene"),
        ])
        var train = TrainSettings()
        // As in the KuaiRand configs: lazy Adam moves a row only when a batch touches it.
        train.sparseLearningRate = 0.01
        return TrainerConfig(data: SyntheticDataGenerator.defaultConfig(directory: defaultDataDirectory),
                             model: model, train: train)
    }

    /// Generates the default data set into `directory` unless its log is already there, and
    /// returns the directory.
    static func ensureGeneratedData(directory: String) throws -> String {
        let log = URL(fileURLWithPath: directory).appendingPathComponent(SyntheticDataGenerator.logFile).path
        if !FileManager.default.fileExists(atPath: log) {
            try SyntheticDataGenerator().write(to: directory)
        }
        return directory
    }
}

/// `trainer generate`: writes a synthetic data set and prints the config that reads it.
enum GenerateCommand {
    static let summary = """
        Write a deterministic synthetic multi-scene, multi-task data set (log.csv, users.csv, \
        items.csv) in the layout the trainer reads: per-scene base rates and feature effects that \
        differ by scene, so scene-aware models have something to learn. The same seed writes the \
        same bytes.
        """

    static let specs: [OptionSpec] = [
        .value("out", "DIR", "Folder to write the three CSV files into.", default: QuickStart.defaultDataDirectory),
        .value("rows", "N", "Log rows (impressions).", default: "100000"),
        .value("users", "N", "Distinct users.", default: "2000"),
        .value("items", "N", "Distinct items.", default: "1000"),
        .value("days", "N", "Days covered by the log; the last N/7 days form the test split.", default: "14"),
        .value("scenes", "N", "Number of scenes.", default: "5"),
        .value("seed", "N", "Seed of the hidden model and the sampling.", default: "1"),
        .value("config-out", "FILE", "Also write a PEPNet training config that reads the generated files."),
    ]

    /// The most log rows one call writes: the generator builds the whole log file in memory,
    /// about 32 bytes a row, before writing it.
    static let maxRows = 200_000_000

    static func run(_ arguments: [String]) throws -> Int32 {
        let options = try ParsedOptions(arguments, specs: specs)
        let defaults = SyntheticDataOptions()
        let rows = try options.integer("rows", minimum: 0) ?? defaults.rows
        if rows > maxRows {
            throw UsageError(message: "option --rows must be at most \(maxRows), got \(rows)")
        }
        let generatorOptions = SyntheticDataOptions(
            rows: rows,
            users: try options.integer("users", minimum: 1) ?? defaults.users,
            items: try options.integer("items", minimum: 1) ?? defaults.items,
            days: try options.integer("days", minimum: 2) ?? defaults.days,
            scenes: try options.integer("scenes", minimum: 1) ?? defaults.scenes,
            seed: UInt64(try options.integer("seed", minimum: 0) ?? Int(defaults.seed)))
        let directory = options.string("out") ?? QuickStart.defaultDataDirectory
        let start = Date()
        try SyntheticDataGenerator(options: generatorOptions).write(to: directory)
        print("wrote \(generatorOptions.rows) rows, \(generatorOptions.users) users and \(generatorOptions.items) items to \(directory) in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")

        if let configPath = options.string("config-out") {
            var config = QuickStart.config()
            config.data = SyntheticDataGenerator.defaultConfig(directory: directory, options: generatorOptions)
            do {
                try config.encodedJSON().write(to: URL(fileURLWithPath: configPath), options: .atomic)
            } catch {
                throw GenerateError(message: "cannot write config \(configPath): \((error as NSError).localizedDescription); choose a writable path")
            }
            print("wrote config \(configPath); train with: trainer train --config \(configPath)")
        }
        return 0
    }
}

/// `trainer check-config`: validates a config file and prints a summary, without reading data.
enum CheckConfigCommand {
    static let summary = "Validate a training config: keys, types, ranges, model options and feature names. Reads no data."

    static let specs: [OptionSpec] = [
        .value("config", "FILE", "The config file to check."),
    ]

    static func run(_ arguments: [String]) throws -> Int32 {
        let options = try ParsedOptions(arguments, specs: specs)
        guard let path = options.string("config") else {
            throw UsageError(message: "missing --config FILE")
        }
        let config = try TrainerConfig.load(path: path)
        let data = config.data
        let layout = try config.validate(source: path)
        print("\(path): valid; model \(config.model.name), \(data.features.count) features (input width \(layout.totalWidth)), tasks \(data.tasks.joined(separator: ", ")), \(data.scene.values.count) scenes")
        return 0
    }
}

struct GenerateError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
