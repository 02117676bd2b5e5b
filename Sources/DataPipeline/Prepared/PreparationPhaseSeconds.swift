import Foundation

/// Wall time of each phase of one `DataPreparation.prepare` call, in seconds. Phases that did
/// not run (everything after `fingerprint` when the cache is reused) stay 0.
public struct PreparationPhaseSeconds: Equatable, Sendable {
    /// Opening the input files and mapping them into memory (reading them where mapping fails).
    public var read = 0.0
    /// Hashing the config and the file contents into the cache fingerprint.
    public var fingerprint = 0.0
    /// Splitting the CSV files into fields.
    public var parse = 0.0
    /// Joining the side tables, the scene filter, the row checks and the train/test split.
    public var join = 0.0
    /// Labels, users, and fitting and applying the feature encoders.
    public var encode = 0.0
    /// Serializing the prepared file and writing it to disk.
    public var write = 0.0

    public init() {}

    /// Everything but `write`: the time to have the encoded dataset in memory.
    public var withoutWrite: Double { read + fingerprint + parse + join + encode }

    /// The phases in the order they run, with their names as printed by benchmarks.
    public var all: [(name: String, seconds: Double)] {
        [("read", read), ("fingerprint", fingerprint), ("parse", parse), ("join", join), ("encode", encode),
         ("write", write)]
    }
}

/// A monotonic stopwatch that returns the seconds since its last lap.
struct PhaseStopwatch {
    private var last = DispatchTime.now().uptimeNanoseconds

    /// Returns the seconds since the previous call (or since `init`) and starts a new lap.
    mutating func lap() -> Double {
        let now = DispatchTime.now().uptimeNanoseconds
        defer { last = now }
        return Double(now - last) / 1e9
    }
}
