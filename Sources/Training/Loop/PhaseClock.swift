import Foundation

/// Phases of a training step, timed separately on every rank.
public enum TrainingPhase: String, CaseIterable, Sendable {
    case input, embeddingLookup, forward
    /// Backward, the non-finite scan and the embedding gradient; with an overlapped allreduce
    /// also the copies of finished gradients into their buckets.
    case backward
    /// The time the step waits for the gradient allreduce after backward. With an overlapped
    /// allreduce that is only the part the worker thread has not finished during backward, plus
    /// the final bucket (`Trainer.communicationThreadBusySeconds` has the worker's total).
    case allreduce
    case optimizer
    /// The sparse update of the embedding rows, with the gradient exchange of sharded tables.
    case embeddingUpdate
}

/// A monotonic stopwatch that charges the time since its last lap to a phase.
struct PhaseClock {
    private var last = DispatchTime.now().uptimeNanoseconds

    mutating func lap(_ phase: TrainingPhase, into totals: inout [TrainingPhase: Double]) {
        let now = DispatchTime.now().uptimeNanoseconds
        totals[phase, default: 0] += Double(now - last) / 1e9
        last = now
    }
}
