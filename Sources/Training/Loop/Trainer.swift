import Communication
import DataPipeline
import Foundation
import Models
import TensorCore

/// Global losses of one step, each task's mean over the rows of the global batch.
public struct StepLoss: Sendable, Equatable {
    /// The global step, counted from 0.
    public let step: Int
    /// Rows of the global batch; 0 for a batch skipped under `train.nonFinite` `skip`, so
    /// checkpoints, which store the rows, keep the record of skipped steps.
    public let rows: Int
    public let taskLosses: [Double]
    /// The reason the batch was skipped, on the run that skipped it; nil after loading a checkpoint.
    public var skipReason: String? = nil

    public var isSkipped: Bool { rows == 0 }
}

/// One rank's replica of the dense model, its embedding rows, its share of the data, and the
/// step it is at.
///
/// Each step, every rank runs forward and backward on its slice of the global batch. The ring
/// allreduce averages the dense gradients, and every rank applies the same dense update, so the
/// dense replicas stay identical without sending parameters. With `train.overlapAllreduce` the
/// dense gradients travel in buckets on a second thread while backward still runs
/// (`GradientAllreduce`). Embedding rows are updated by their owners
/// (`RowShardedEmbeddingTables`) or, with replicated tables, through the same allreduce.
public final class Trainer {
    public let communicator: Communicator
    public let config: TrainerConfig
    public let dataset: PreparedDataset
    public let layout: FeatureLayout
    public let model: RankingModel
    public let embeddings: EmbeddingStore
    /// The tasks the model predicts: all of the data's tasks, or the first ones for a model with
    /// fewer heads (a single-task model predicts the first task).
    public let taskNames: [String]
    let optimizer: Optimizer
    let gradientAllreduce: GradientAllreduce
    let taskWeights: [Float]
    public internal(set) var globalStep = 0
    /// Rows this rank trained on, over all epochs so far.
    public private(set) var localRowsTrained = 0
    /// Seconds spent in each phase of the step on this rank, keyed by `TrainingPhase`. With an
    /// overlapped allreduce, `allreduce` is only the exposed part: the wait for the dense buckets
    /// after backward plus the final bucket.
    public private(set) var phaseSeconds: [TrainingPhase: Double] = [:]
    /// Whether the dense buckets are reduced on a second thread during backward. False when
    /// `train.overlapAllreduce` is off, for a world of one rank, and when the communicator
    /// accepts calls from one thread only (then `overlapFallbackReason` is set).
    public let overlapsAllreduce: Bool
    /// The reason the run reduces after backward although `train.overlapAllreduce` is on; nil
    /// otherwise.
    public let overlapFallbackReason: String?
    /// Seconds the allreduce thread spent reducing dense buckets, summed over all steps; 0 when
    /// `overlapsAllreduce` is false. Most of it overlaps backward and is not in `phaseSeconds`.
    public var communicationThreadBusySeconds: Double { gradientAllreduce.workerBusySeconds }
    /// The signal that some rank had received by the end of the last step, the same on every
    /// rank. The run stops at this step boundary when it is set.
    public private(set) var stopSignal: Int32?
    let testHooks: TestHooks

    public init(config: TrainerConfig, dataset: PreparedDataset, communicator: Communicator) throws {
        self.config = config
        self.dataset = dataset
        self.communicator = communicator
        testHooks = try TestHooks(environment: ProcessInfo.processInfo.environment)
        let schema = dataset.schema
        layout = FeatureLayout(names: schema.featureNames, widths: schema.embeddingDimensions)
        let settings = config.train
        ComputeThreads.configure(threads: settings.threads)
        model = try config.model.make(ModelContext(layout: layout, taskCount: schema.taskNames.count,
                                                   sceneCount: schema.sceneValues.count,
                                                   seed: mixSeed(settings.seed, 0x4D4F44454C)))
        if let weights = settings.taskWeights, weights.count != schema.taskNames.count {
            throw TrainerError.configMismatch(
                key: "train.taskWeights",
                message: "has \(weights.count) weights but data.tasks lists \(schema.taskNames.count) tasks")
        }
        precondition(model.taskCount >= 1 && model.taskCount <= schema.taskNames.count,
                     "model \(config.model.name) predicts \(model.taskCount) tasks but the data has \(schema.taskNames.count)")
        taskNames = Array(schema.taskNames.prefix(model.taskCount))
        taskWeights = Array((settings.taskWeights ?? Array(repeating: 1, count: schema.taskNames.count)).prefix(model.taskCount))

        let sparseRate = settings.sparseLearningRate ?? settings.learningRate
        let sparseOptimizer: SparseRowOptimizer
        let initialState: Float
        switch settings.sparseOptimizer {
        case "rowWiseAdagrad":
            let adagrad = RowWiseAdagrad(learningRate: sparseRate)
            sparseOptimizer = adagrad
            initialState = adagrad.initialAccumulator
        default:
            sparseOptimizer = LazyAdam(learningRate: sparseRate)
            initialState = 0
        }
        let tableSeed = mixSeed(settings.seed, 0x454D42)
        switch settings.embeddingLayout {
        case "replicated":
            embeddings = ReplicatedEmbeddingTables(layout: layout, rowCounts: schema.tableRows, optimizer: sparseOptimizer,
                                                   initialState: initialState, seed: tableSeed)
        default:
            embeddings = RowShardedEmbeddingTables(layout: layout, rowCounts: schema.tableRows, optimizer: sparseOptimizer,
                                                   initialState: initialState, seed: tableSeed, communicator: communicator)
        }
        switch settings.optimizer {
        case "sgd":
            optimizer = SGD(learningRate: settings.learningRate, weightDecay: settings.weightDecay)
        case "adagrad":
            optimizer = Adagrad(learningRate: settings.learningRate, weightDecay: settings.weightDecay)
        default:
            optimizer = Adam(learningRate: settings.learningRate, weightDecay: settings.weightDecay)
        }
        if settings.overlapAllreduce && communicator.worldSize > 1 && !communicator.supportsSerializedCalls {
            overlapFallbackReason = "train.overlapAllreduce is on, but the communicator accepts calls from one thread "
                + "only (MPI did not grant MPI_THREAD_SERIALIZED), so the dense allreduce runs after backward"
        } else {
            overlapFallbackReason = nil
        }
        overlapsAllreduce = settings.overlapAllreduce && communicator.worldSize > 1 && overlapFallbackReason == nil
        gradientAllreduce = GradientAllreduce(parameters: model.parameters, tables: embeddings.allreducedTables,
                                              taskCount: model.taskCount, communicator: communicator,
                                              bucketBytes: settings.allreduceBucketBytes, overlap: overlapsAllreduce)
        try synchronizeInitialState()
    }

    /// Copies rank 0's dense parameters to every rank, so replicas start identical even if
    /// initialization differed (another build, another math library). Embedding rows need no
    /// copy: each row's initial value is a function of the seed, the feature and the row.
    func synchronizeInitialState() throws {
        for parameter in model.parameters {
            try communicator.broadcast(&parameter.value.scalars, root: 0)
        }
    }

    /// Returns the plan of `epoch`, the same on every rank but for `rank`.
    public func plan(epoch: Int) -> EpochPlan {
        EpochPlan(epoch: epoch, rowCount: dataset.train.count, globalBatchSize: config.train.batchSize,
                  worldSize: communicator.worldSize, rank: communicator.rank, seed: config.train.seed)
    }

    /// Runs one training step on this rank's slice of the plan's step `step` and returns the
    /// global loss of the step.
    ///
    /// A NaN or Inf in a loss or gradient on any rank is seen by every rank in the same step,
    /// through a flag in the gradient allreduce. Under `train.nonFinite` `stop` every rank throws
    /// `CollectiveFailure` naming the step, the rank and the value before anything is updated.
    /// Under `skip` no parameter or optimizer state changes and the step has `rows` 0.
    /// - Parameter receivedSignal: SIGTERM or SIGINT when this rank received one, else 0;
    ///   afterwards `stopSignal` tells whether any rank did.
    @discardableResult
    public func trainStep(plan: EpochPlan, step: Int, receivedSignal: Int32 = 0) throws -> StepLoss {
        if let kill = testHooks.killAtStep, kill.rank == communicator.rank, kill.step == globalStep + 1 {
            Foundation.kill(getpid(), SIGKILL)
        }
        if let milliseconds = testHooks.stepDelayMilliseconds {
            Thread.sleep(forTimeInterval: Double(milliseconds) / 1000)
        }
        let global = plan.globalRange(step: step)
        let local = plan.localRange(step: step)
        let rowCount = local.count
        let taskCount = model.taskCount
        var clock = PhaseClock()

        let batch = LocalBatch(split: dataset.train, permutation: plan.permutation, positions: local,
                               globalStart: global.lowerBound, taskCount: taskCount, seed: config.train.seed,
                               globalStep: globalStep)
        let ids = batch.ids
        clock.lap(.input, into: &phaseSeconds)

        // Each rank's loss is its rows' share of the global mean times W, so that the average
        // over ranks the allreduce computes is the mean over the global batch.
        let normalizer = Float(global.count) / Float(communicator.worldSize)
        var lossSums = [Float](repeating: 0, count: taskCount)
        var nonFinite: String?
        // The lookup is collective on sharded tables, so a rank with an empty slice joins it too.
        let embeddingRows = try embeddings.lookup(ids: ids, rowCount: rowCount)
        clock.lap(.embeddingLookup, into: &phaseSeconds)
        gradientAllreduce.beginStep()
        if rowCount > 0 {
            let graph = Graph(training: true)
            let input = graph.input(embeddingRows)
            let logits = model.forward(embeddings: input, batch: BatchContext(scenes: batch.scenes, rowSeeds: batch.rowSeeds))
            let labelTensor = Tensor(shape: [rowCount, taskCount], scalars: batch.labels)
            let loss = binaryCrossEntropyWithLogits(logits, labels: labelTensor, taskWeights: taskWeights,
                                                    normalizer: normalizer)
            let perTask = binaryCrossEntropyPerTask(logits: logits.value, labels: labelTensor)
            lossSums = perTask.map { Float($0) * Float(communicator.worldSize) }
            clock.lap(.forward, into: &phaseSeconds)
            graph.backward(loss) { parameter in
                self.injectTestNaN(intoGradientOf: parameter)
                self.gradientAllreduce.parameterReady(parameter)
            }
            gradientAllreduce.finishDense()
            injectTestNaN(into: &lossSums)
            nonFinite = NonFiniteScan.firstNonFinite(
                lossSums: lossSums, taskNames: taskNames, parameters: model.parameters,
                gradientIsFinite: { self.gradientAllreduce.gradientIsFinite(parameterIndex: $0) },
                inputGradient: input.gradient, layout: layout)
            if let gradient = input.gradient {
                embeddings.accumulateGradient(ids: ids, rowCount: rowCount, inputGradient: gradient)
            }
            clock.lap(.backward, into: &phaseSeconds)
        } else {
            gradientAllreduce.finishDense()
        }

        let (globalLossSums, flags) = try gradientAllreduce.reduce(
            lossSums: lossSums, flags: StepFlags(nonFinite: nonFinite != nil, signal: receivedSignal))
        stopSignal = flags.stopSignal
        clock.lap(.allreduce, into: &phaseSeconds)

        let taskLosses = globalLossSums.map { Double($0) / Double(global.count) }
        if flags.anyNonFinite || taskLosses.contains(where: { !$0.isFinite }) {
            let reason = try agreeOnNonFinite(localValue: nonFinite, globalLosses: taskLosses)
            for parameter in model.parameters { parameter.zeroGradient() }
            embeddings.discardGradient()
            let result = StepLoss(step: globalStep, rows: 0, taskLosses: taskLosses, skipReason: reason)
            globalStep += 1
            return result
        }
        optimizer.updateAndZeroGradients(model.parameters)
        clock.lap(.optimizer, into: &phaseSeconds)
        try embeddings.applyUpdate()
        clock.lap(.embeddingUpdate, into: &phaseSeconds)

        let result = StepLoss(step: globalStep, rows: global.count, taskLosses: taskLosses)
        globalStep += 1
        localRowsTrained += rowCount
        return result
    }

    /// Returns the message naming the first rank's non-finite value when `train.nonFinite` is
    /// `skip`, and throws it on every rank otherwise. Collective; every rank calls it in the
    /// same step, because the flag that leads here came through the allreduce.
    func agreeOnNonFinite(localValue: String?, globalLosses: [Double]) throws -> String {
        let stepNumber = globalStep + 1
        var message: String
        var failedRank = communicator.rank
        do {
            try communicator.runOnEveryRank {
                if let localValue {
                    throw TrainerError.nonFinite(step: stepNumber, rank: communicator.rank, value: localValue)
                }
            }
            // No rank found a value of its own: the sum of finite losses overflowed.
            let task = globalLosses.firstIndex { !$0.isFinite }!
            message = "the global loss of task \(taskNames[task]) is not finite (NaN or Inf) in step \(stepNumber)"
        } catch let failure as CollectiveFailure {
            message = failure.message
            failedRank = failure.failedRank
        }
        guard config.train.nonFinite == "skip" else {
            throw CollectiveFailure(
                message: message + "; lower the learning rate or check the input data, or set train.nonFinite to \"skip\" to skip such batches",
                underlying: nil, failedRank: failedRank)
        }
        return message
    }

    /// Puts the NaN of `TestHooks.nanAtStepVariable` into this step's loss on the highest rank
    /// when the hook targets the loss.
    private func injectTestNaN(into lossSums: inout [Float]) {
        guard let nan = testHooks.nanAtStep, nan.target == .loss, nan.step == globalStep + 1,
              communicator.rank == communicator.worldSize - 1 else { return }
        lossSums[0] = .nan
    }

    /// Puts the NaN of `TestHooks.nanAtStepVariable` into the first dense gradient on the highest
    /// rank when the hook targets gradients and `parameter` is the first one. It runs when
    /// backward reports the gradient final, before the gradient can be packed into a bucket.
    private func injectTestNaN(intoGradientOf parameter: Parameter) {
        guard let nan = testHooks.nanAtStep, nan.target == .gradient, nan.step == globalStep + 1,
              communicator.rank == communicator.worldSize - 1, parameter === model.parameters[0] else { return }
        parameter.gradient.scalars[0] = .nan
    }

    /// Returns a checksum of every dense parameter's bits, equal on all ranks while they agree.
    public func denseChecksum() -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for parameter in model.parameters {
            for value in parameter.value.scalars {
                hash = (hash ^ UInt64(value.bitPattern)) &* 0x0000_0100_0000_01B3
            }
        }
        return hash
    }

    /// Compares `denseChecksum()` across ranks and throws naming the ranks that differ from rank 0.
    public func verifyReplicasAgree() throws {
        let checksums = try communicator.allgather(denseChecksum())
        let differing = checksums.indices.filter { checksums[$0] != checksums[0] }
        if !differing.isEmpty {
            throw TrainerError.divergedReplicas(step: globalStep, ranks: differing)
        }
    }
}
