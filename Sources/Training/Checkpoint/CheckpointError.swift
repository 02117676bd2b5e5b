/// A checkpoint that cannot be written, found, read or used with the current run.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    case notFound(path: String, reason: String)
    case unreadable(path: String, reason: String)
    case writeFailed(path: String, reason: String)
    case invalidManifest(path: String, reason: String)
    case truncated(path: String, bytes: Int, expectedBytes: Int)
    case checksumMismatch(path: String, actual: String, expected: String)
    /// The checkpoint was saved by a run that differs in `what`, so its values cannot be used.
    case incompatible(path: String, what: String, checkpoint: String, current: String)

    public var description: String {
        switch self {
        case let .notFound(path, reason):
            return "no checkpoint at \(path): \(reason)"
        case let .unreadable(path, reason):
            return "cannot read checkpoint file \(path): \(reason)"
        case let .writeFailed(path, reason):
            return "cannot write checkpoint file \(path): \(reason); check that the run directory is writable and the disk has space"
        case let .invalidManifest(path, reason):
            return "invalid checkpoint manifest \(path): \(reason)"
        case let .truncated(path, bytes, expectedBytes):
            return "checkpoint file \(path) is truncated: \(bytes) bytes, the manifest lists \(expectedBytes); the write was interrupted, so use an older checkpoint"
        case let .checksumMismatch(path, actual, expected):
            return "checkpoint file \(path) is corrupt: FNV-1a 64 checksum \(actual), the manifest lists \(expected); use an older checkpoint"
        case let .incompatible(path, what, checkpoint, current):
            return "checkpoint \(path) does not match this run: \(what) is \(checkpoint) in the checkpoint but \(current) here"
        }
    }
}
