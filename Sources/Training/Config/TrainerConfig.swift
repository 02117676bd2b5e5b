import DataPipeline
import Foundation
import Models

/// A whole training config: what data to read (`data`), which model (`model`) and how to train
/// (`train`). Decoding is strict everywhere: an unknown key names its path and the closest known key.
public struct TrainerConfig: Codable, Equatable, Sendable {
    public var data: DataConfig
    public var model: ModelConfig
    public var train: TrainSettings

    enum CodingKeys: String, CodingKey, CaseIterable { case data, model, train }

    public init(data: DataConfig, model: ModelConfig, train: TrainSettings) {
        self.data = data
        self.model = model
        self.train = train
    }

    public init(from decoder: Decoder) throws {
        try StrictDecoding.rejectUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        data = try container.decode(DataConfig.self, forKey: .data)
        // The model's options are checked against the chosen model when it is built.
        model = try container.decode(ModelConfig.self, forKey: .model)
        train = try container.decodeIfPresent(TrainSettings.self, forKey: .train) ?? TrainSettings()
    }

    /// Reads and validates a config file; errors name the file and the key path.
    public static func load(path: String) throws -> TrainerConfig {
        let url = URL(fileURLWithPath: path)
        let bytes: Data
        do {
            bytes = try Data(contentsOf: url)
        } catch {
            throw TrainerError.configUnreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        do {
            return try StrictDecoding.decode(TrainerConfig.self, from: bytes)
        } catch let error as ConfigError {
            throw TrainerError.invalidConfig(path: path, error: error)
        }
    }

    /// Checks what decoding cannot: the model's options and feature names against the data
    /// section, by building the model once. Reads no data; `source` names the config in errors.
    /// Returns the input layout the model was built for.
    @discardableResult
    public func validate(source: String) throws -> FeatureLayout {
        let widths = data.features.indices.map { data.embeddingDimension(ofFeature: $0) }
        let layout = FeatureLayout(names: data.features.map(\.name), widths: widths)
        do {
            _ = try model.make(ModelContext(layout: layout, taskCount: data.tasks.count,
                                            sceneCount: data.scene.values.count, seed: train.seed))
        } catch let error as ModelError {
            throw TrainerError.invalidModel(source: source, error: error)
        }
        if let weights = train.taskWeights, weights.count != data.tasks.count {
            throw TrainerError.configMismatch(
                key: "\(source): train.taskWeights",
                message: "has \(weights.count) weights but data.tasks lists \(data.tasks.count) tasks; give one weight per task")
        }
        return layout
    }

    /// Encodes the config as pretty JSON with sorted keys, as written to the run directory.
    public func encodedJSON() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

/// The `train` section: optimization and schedule. Every field has a default.
public struct TrainSettings: Codable, Equatable, Sendable {
    /// Rows per step summed over all ranks; each rank takes about `batchSize / W` of them.
    public var batchSize = 1024
    public var epochs = 1
    /// Seed of parameter initialization, shuffling and dropout.
    public var seed: UInt64 = 1
    /// Dense optimizer: `adam`, `adagrad` or `sgd`.
    public var optimizer = "adam"
    public var learningRate: Float = 1e-3
    /// L2 decay added to the dense gradients.
    public var weightDecay: Float = 0
    /// Embedding optimizer: `lazyAdam` or `rowWiseAdagrad`; only rows a batch touched change.
    public var sparseOptimizer = "lazyAdam"
    /// Learning rate of the embedding optimizer; the dense rate when absent.
    public var sparseLearningRate: Float?
    /// Weight of each task's loss in the summed loss, in task order; all 1 when absent.
    public var taskWeights: [Float]?
    /// The placement of embedding rows: `rowSharded` (each row on one rank, looked up by all-to-all)
    /// or `replicated` (every rank holds every row; gradients travel in the dense allreduce).
    public var embeddingLayout = "rowSharded"
    /// Size of the fusion buckets that the ring allreduce sends, in bytes. With
    /// `overlapAllreduce`, smaller buckets start sending earlier in backward, at the cost of
    /// 2(W−1) message latencies per bucket.
    public var allreduceBucketBytes = 1 << 20
    /// Whether dense gradient buckets are reduced on a second thread while backward still runs.
    /// Off, they are reduced after backward. Both give bit-identical results.
    public var overlapAllreduce = true
    /// Rows scored per forward pass during evaluation, per rank.
    public var evalBatchSize = 8192
    /// Stop after this many steps in total (for quick runs and tests); nil trains every epoch fully.
    public var maxSteps: Int?
    /// Every this many steps rank 0 logs the loss and throughput.
    public var logEverySteps = 50
    /// Threads of each rank for OpenBLAS and the element-wise, gather and scatter kernels. Keep 1
    /// when every core runs a rank; raise it when a node runs fewer ranks than it has cores.
    public var threads = 1
    /// Every this many steps, and once at the end, rank 0 writes a checkpoint into the run
    /// directory's `checkpoints/`; nil writes none.
    public var checkpointEverySteps: Int?
    /// How many of the newest checkpoints stay; older ones are deleted once a new one is complete.
    public var keepCheckpoints = 3
    /// What a NaN or Inf in a loss or gradient does: `stop` the run with an error naming the
    /// step, rank and value, or `skip` the batch on every rank and count it.
    public var nonFinite = "stop"

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case batchSize, epochs, seed, optimizer, learningRate, weightDecay, sparseOptimizer, sparseLearningRate
        case taskWeights, embeddingLayout, allreduceBucketBytes, overlapAllreduce, evalBatchSize, maxSteps, logEverySteps
        case checkpointEverySteps, keepCheckpoints, nonFinite, threads
    }

    public init(from decoder: Decoder) throws {
        try StrictDecoding.rejectUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = TrainSettings()
        batchSize = try container.decodeWholeNumberIfPresent(forKey: .batchSize, in: 1...Int.max, decoder: decoder)
            ?? defaults.batchSize
        epochs = try container.decodeWholeNumberIfPresent(forKey: .epochs, in: 1...1_000_000, decoder: decoder) ?? defaults.epochs
        seed = try container.decodeWholeNumberIfPresent(forKey: .seed, in: 0...Int.max, decoder: decoder).map(UInt64.init)
            ?? defaults.seed
        optimizer = try container.decodeIfPresent(String.self, forKey: .optimizer) ?? defaults.optimizer
        learningRate = try container.decodeFloatIfPresent(forKey: .learningRate, decoder: decoder) ?? defaults.learningRate
        weightDecay = try container.decodeFloatIfPresent(forKey: .weightDecay, decoder: decoder) ?? defaults.weightDecay
        sparseOptimizer = try container.decodeIfPresent(String.self, forKey: .sparseOptimizer) ?? defaults.sparseOptimizer
        sparseLearningRate = try container.decodeFloatIfPresent(forKey: .sparseLearningRate, decoder: decoder)
        taskWeights = try container.decodeIfPresent([Float].self, forKey: .taskWeights)
        embeddingLayout = try container.decodeIfPresent(String.self, forKey: .embeddingLayout) ?? defaults.embeddingLayout
        allreduceBucketBytes = try container.decodeWholeNumberIfPresent(forKey: .allreduceBucketBytes, in: 1024...Int.max,
                                                                        decoder: decoder) ?? defaults.allreduceBucketBytes
        overlapAllreduce = try container.decodeIfPresent(Bool.self, forKey: .overlapAllreduce) ?? defaults.overlapAllreduce
        evalBatchSize = try container.decodeWholeNumberIfPresent(forKey: .evalBatchSize, in: 1...Int.max, decoder: decoder)
            ?? defaults.evalBatchSize
        threads = try container.decodeWholeNumberIfPresent(forKey: .threads, in: 1...256, decoder: decoder)
            ?? defaults.threads
        maxSteps = try container.decodeWholeNumberIfPresent(forKey: .maxSteps, in: 1...Int.max, decoder: decoder)
        logEverySteps = try container.decodeWholeNumberIfPresent(forKey: .logEverySteps, in: 1...Int.max, decoder: decoder)
            ?? defaults.logEverySteps
        checkpointEverySteps = try container.decodeWholeNumberIfPresent(forKey: .checkpointEverySteps, in: 1...Int.max,
                                                                        decoder: decoder)
        keepCheckpoints = try container.decodeWholeNumberIfPresent(forKey: .keepCheckpoints, in: 1...Int.max,
                                                                   decoder: decoder) ?? defaults.keepCheckpoints
        nonFinite = try container.decodeIfPresent(String.self, forKey: .nonFinite) ?? defaults.nonFinite

        if batchSize < 1 { throw StrictDecoding.invalid("batchSize", in: decoder, "must be at least 1, got \(batchSize)") }
        if epochs < 1 { throw StrictDecoding.invalid("epochs", in: decoder, "must be at least 1, got \(epochs)") }
        if !["adam", "adagrad", "sgd"].contains(optimizer) {
            throw StrictDecoding.invalid("optimizer", in: decoder, "unknown optimizer \"\(optimizer)\"; use adam, adagrad or sgd")
        }
        if !["lazyAdam", "rowWiseAdagrad"].contains(sparseOptimizer) {
            throw StrictDecoding.invalid("sparseOptimizer", in: decoder,
                                         "unknown sparse optimizer \"\(sparseOptimizer)\"; use lazyAdam or rowWiseAdagrad")
        }
        if !["rowSharded", "replicated"].contains(embeddingLayout) {
            throw StrictDecoding.invalid("embeddingLayout", in: decoder,
                                         "unknown layout \"\(embeddingLayout)\"; use rowSharded or replicated")
        }
        if !["stop", "skip"].contains(nonFinite) {
            throw StrictDecoding.invalid("nonFinite", in: decoder, "unknown policy \"\(nonFinite)\"; use stop or skip")
        }
        if !(learningRate > 0) {
            throw StrictDecoding.invalid("learningRate", in: decoder, "must be positive, got \(learningRate)")
        }
        if let rate = sparseLearningRate, !(rate > 0) {
            throw StrictDecoding.invalid("sparseLearningRate", in: decoder, "must be positive, got \(rate)")
        }
        if weightDecay < 0 { throw StrictDecoding.invalid("weightDecay", in: decoder, "must not be negative, got \(weightDecay)") }
        if let weights = taskWeights, weights.contains(where: { !($0 >= 0) }) {
            throw StrictDecoding.invalid("taskWeights", in: decoder, "weights must be non-negative numbers, got \(weights)")
        }
        if allreduceBucketBytes < 1024 {
            throw StrictDecoding.invalid("allreduceBucketBytes", in: decoder, "must be at least 1024, got \(allreduceBucketBytes)")
        }
        if evalBatchSize < 1 { throw StrictDecoding.invalid("evalBatchSize", in: decoder, "must be at least 1, got \(evalBatchSize)") }
        if let steps = maxSteps, steps < 1 { throw StrictDecoding.invalid("maxSteps", in: decoder, "must be at least 1, got \(steps)") }
        if logEverySteps < 1 { throw StrictDecoding.invalid("logEverySteps", in: decoder, "must be at least 1, got \(logEverySteps)") }
    }
}
