import Foundation

/// `manifest.json` of a checkpoint directory: what was saved, at which point of training, and
/// each binary file with its size and checksum, so a reader can check a checkpoint before using it.
///
/// A checkpoint directory contains
///
///     manifest.json              this manifest, written last
///     dense.bin                  every dense parameter in `dense` order, Float32
///     dense-optimizer.bin        per dense parameter, its `stateSlots` state tensors, Float32
///     buffers.bin                `[worldSize]` copies, one per rank, of the model's buffers in
///                                `buffers` order, Float32 (only if the model has any)
///     step-losses.bin            `[steps, 1 + T]` Float64: rows of the step, then each task's loss
///     table-<f>.rows.bin         feature f's table `[R, D]` in global row order, Float32
///     table-<f>.state.bin        its sparse optimizer state `[R, stateWidth]`, Float32
///
/// All numbers are little-endian. Tables are stored in global row order, so a checkpoint saved
/// on any world size loads on any other.
public struct CheckpointManifest: Codable, Equatable, Sendable {
    /// The version this build writes and reads; a manifest of another version is rejected.
    public static let currentFormatVersion = 1
    public static let fileName = "manifest.json"
    public static let denseFileName = "dense.bin"
    public static let denseOptimizerFileName = "dense-optimizer.bin"
    public static let stepLossesFileName = "step-losses.bin"
    public static let buffersFileName = "buffers.bin"

    public static func rowsFileName(feature: Int) -> String { "table-\(feature).rows.bin" }
    public static func stateFileName(feature: Int) -> String { "table-\(feature).state.bin" }

    public struct FileEntry: Codable, Equatable, Sendable {
        public var name: String
        public var bytes: Int
        /// FNV-1a 64 of the file's bytes, as 16 lowercase hex digits.
        public var fnv1a64: String
    }

    public struct TableEntry: Codable, Equatable, Sendable {
        public var feature: String
        public var rows: Int
        public var dimension: Int
        /// State floats per row of the sparse optimizer.
        public var stateWidth: Int
    }

    public struct DenseEntry: Codable, Equatable, Sendable {
        public var name: String
        public var shape: [Int]
        /// State tensors of the dense optimizer for this parameter (0 before its first update).
        public var stateSlots: Int
    }

    /// A model buffer (running statistics), saved once for each rank of the run.
    public struct BufferEntry: Codable, Equatable, Sendable {
        public var name: String
        public var count: Int
    }

    public struct OptimizerEntry: Codable, Equatable, Sendable {
        public var name: String
        /// Steps taken, which Adam's bias correction depends on; nil for optimizers without a count.
        public var stepCount: Int?
    }

    public var formatVersion: Int
    public var modelName: String
    /// The config of the run that saved the checkpoint.
    public var config: TrainerConfig
    /// Ranks of the run that saved it; any world size can load it.
    public var worldSize: Int
    /// Steps completed.
    public var globalStep: Int
    /// The epoch (from 0) and the step within it that training continues with. A step equal to
    /// the epoch's step count means the epoch's steps are done and its evaluation is next.
    public var epoch: Int
    public var stepInEpoch: Int
    /// Training rows of the prepared data; the epoch plans depend on it.
    public var trainRows: Int
    /// The source of the randomness of the rest of the run. Shuffling, dropout and
    /// initialization are functions of `train.seed`, the epoch and the global step, so no
    /// generator state needs saving.
    public var randomState: String
    /// The last evaluation before the save, if any.
    public var metrics: EvaluationReport?
    public var files: [FileEntry]
    public var tables: [TableEntry]
    public var dense: [DenseEntry]
    /// Nil in checkpoints of builds that saved no buffers.
    public var buffers: [BufferEntry]?
    public var denseOptimizer: OptimizerEntry
    public var sparseOptimizer: OptimizerEntry

    /// Returns the checkpoint folder name of global step `step`.
    public static func directoryName(step: Int) -> String { "step-\(step)" }

    /// Returns the step of a checkpoint folder name such as `step-120`, nil for other names (temporary
    /// folders `step-120.tmp-<pid>` included).
    public static func step(ofDirectoryName name: String) -> Int? {
        guard name.hasPrefix("step-") else { return nil }
        let digits = name.dropFirst("step-".count)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        return Int(digits)
    }
}

/// FNV-1a 64 over a stream of bytes: small, dependency-free, and enough to catch torn or
/// corrupted files (it is not a defence against deliberate tampering).
struct FNV1a64 {
    private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var hash = value
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        value = hash
    }

    var hexDigest: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
