import Foundation

/// Appends a step record to `metrics.jsonl` every `train.logEverySteps` steps (rank 0): the mean
/// global loss of each task and the samples per second since the previous record, with the
/// learning rate.
struct StepRecorder {
    struct Record: Encodable {
        let step: Int
        let epoch: Int
        /// Mean loss of each task over the steps since the previous record, by task name.
        let losses: [String: Double]
        let learningRate: Double
        let samplesPerSecond: Double
    }

    let directory: RunDirectory
    let taskNames: [String]
    private var lossSums: [Double]
    private var rows = 0
    private var start = DispatchTime.now().uptimeNanoseconds

    init(directory: RunDirectory, taskNames: [String]) {
        self.directory = directory
        self.taskNames = taskNames
        lossSums = Array(repeating: 0, count: taskNames.count)
    }

    mutating func record(_ loss: StepLoss) {
        // A skipped step (NaN or Inf with train.nonFinite "skip") trained no row; its losses are
        // not finite and must not reach the mean.
        guard loss.rows > 0, !loss.isSkipped else { return }
        rows += loss.rows
        for task in lossSums.indices {
            lossSums[task] += loss.taskLosses[task] * Double(loss.rows)
        }
    }

    /// Appends the record of the steps since the previous one, if any trained a row.
    mutating func flush(step: Int, epoch: Int, learningRate: Double) throws {
        guard rows > 0 else { return }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let losses = Dictionary(uniqueKeysWithValues: zip(taskNames, lossSums.map { $0 / Double(rows) }))
        try directory.appendMetricsLine(Record(step: step, epoch: epoch, losses: losses, learningRate: learningRate,
                                               samplesPerSecond: seconds > 0 ? Double(rows) / seconds : 0))
        lossSums = Array(repeating: 0, count: taskNames.count)
        rows = 0
        start = DispatchTime.now().uptimeNanoseconds
    }
}
