import Foundation

/// Accumulates the losses and rows of an epoch's steps for rank 0's progress lines.
struct ProgressMeter {
    let epoch: Int
    let epochCount: Int
    let plan: EpochPlan
    let taskNames: [String]
    private let start = DispatchTime.now().uptimeNanoseconds
    private var steps: Int
    private var rows: Int
    /// Rows of the epoch done before this meter started (a resumed epoch).
    private let rowsAtStart: Int
    /// Row-weighted loss sums since the last line, `[T]`, and their row count.
    private var windowLossSums: [Double]
    private var windowRows = 0

    /// Starts counting at `firstStep` of the plan, where a resumed run continues.
    init(epoch: Int, epochCount: Int, plan: EpochPlan, taskNames: [String], firstStep: Int = 0) {
        steps = firstStep
        rowsAtStart = firstStep < plan.stepCount ? plan.globalRange(step: firstStep).lowerBound : plan.rowCount
        rows = rowsAtStart
        self.epoch = epoch
        self.epochCount = epochCount
        self.plan = plan
        self.taskNames = taskNames
        windowLossSums = Array(repeating: 0, count: taskNames.count)
    }

    mutating func record(_ loss: StepLoss) {
        steps += 1
        // The epoch's position counts a skipped batch too, so the percentage and time left stay right.
        rows = plan.globalRange(step: steps - 1).upperBound
        // A skipped batch trained no rows, and its losses may be NaN.
        guard !loss.isSkipped else { return }
        windowRows += loss.rows
        for task in windowLossSums.indices {
            windowLossSums[task] += loss.taskLosses[task] * Double(loss.rows)
        }
    }

    /// The progress line with the mean loss since the previous line; starts a new window.
    mutating func line() -> ProgressLine {
        let losses = windowLossSums.map { windowRows > 0 ? $0 / Double(windowRows) : 0 }
        windowLossSums = Array(repeating: 0, count: taskNames.count)
        windowRows = 0
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return ProgressLine(epoch: epoch, epochCount: epochCount, step: steps, stepCount: plan.stepCount,
                            rowsDone: rows, rowsTotal: plan.rowCount, elapsedSeconds: elapsed,
                            taskNames: taskNames, losses: losses, rowsAtStart: rowsAtStart)
    }
}
