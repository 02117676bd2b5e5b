/// FNV-1a, 64-bit: a hash that is the same in every process and on every machine, unlike
/// Swift's `Hasher`, which is seeded per process. Used for hash-encoded features, user ids that
/// are not integers, and content fingerprints.
public enum StableHash {
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    public static let prime: UInt64 = 0x0000_0100_0000_01b3

    /// Returns the FNV-1a hash of `bytes`, continuing from `seed`.
    public static func fnv1a(_ bytes: UnsafeBufferPointer<UInt8>, seed: UInt64 = offsetBasis) -> UInt64 {
        var hash = seed
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* prime
        }
        return hash
    }

    /// Returns the FNV-1a hash of the UTF-8 bytes of `text`.
    public static func fnv1a(_ text: String, seed: UInt64 = offsetBasis) -> UInt64 {
        var copy = text
        return copy.withUTF8 { fnv1a($0, seed: seed) }
    }

    /// Returns the FNV-1a hash of the bytes of `data`.
    public static func fnv1a(_ bytes: [UInt8], seed: UInt64 = offsetBasis) -> UInt64 {
        bytes.withUnsafeBufferPointer { fnv1a($0, seed: seed) }
    }
}
