import Foundation

/// The identity of the trainer executable a rank runs: the FNV-1a 64 hash of the file's bytes.
/// Ranks that run different builds could still agree on the config and yet compute different
/// models, so a run compares the identities at start, as it compares the configs.
public struct BuildIdentity: Sendable, Equatable {
    public let executablePath: String
    public let hash: UInt64

    public init(executablePath: String, hash: UInt64) {
        self.executablePath = executablePath
        self.hash = hash
    }

    /// Returns the identity of the running executable, read once from `/proc/self/exe` (the
    /// file this process was started from, even when a later build replaced it) or, where that
    /// does not exist, from the path of `Bundle.main`. Returns nil when neither can be read.
    public static func ofRunningExecutable() -> BuildIdentity? {
        let path = Bundle.main.executablePath ?? CommandLine.arguments[0]
        let source = FileManager.default.fileExists(atPath: "/proc/self/exe") ? "/proc/self/exe" : path
        guard let handle = FileHandle(forReadingAtPath: source) else { return nil }
        defer { try? handle.close() }
        var hasher = FNV1a64()
        while let block = try? handle.read(upToCount: 1 << 20), !block.isEmpty {
            block.withUnsafeBytes { hasher.update($0) }
        }
        return BuildIdentity(executablePath: path, hash: hasher.value)
    }
}
