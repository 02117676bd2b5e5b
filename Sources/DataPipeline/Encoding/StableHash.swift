/// FNV-1a, 64-bit: a hash that is the same in every process and on every machine, unlike
/// Swift's `Hasher`, which is seeded per process. Used for hash-encoded features and user ids that
/// are not integers. `contentHash` hashes whole files for the prepared-data fingerprint.
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

    /// Returns a 64-bit hash of `bytes` that reads 8-byte words in four independent lanes, so it
    /// runs at memory speed rather than at FNV-1a's one byte per multiply. Like FNV-1a it is the
    /// same in every process and on every machine (little-endian words), and it detects changed
    /// content, not deliberate collisions.
    public static func contentHash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let multiplier: UInt64 = 0x9E37_79B9_7F4A_7C15
        var lanes: (UInt64, UInt64, UInt64, UInt64) = (offsetBasis, prime, multiplier, UInt64(bytes.count))
        let blocks = bytes.count / 32
        for block in 0..<blocks {
            let offset = block * 32
            lanes.0 = mix(lanes.0, bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            lanes.1 = mix(lanes.1, bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
            lanes.2 = mix(lanes.2, bytes.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self))
            lanes.3 = mix(lanes.3, bytes.loadUnaligned(fromByteOffset: offset + 24, as: UInt64.self))
        }
        var hash = mix(mix(mix(lanes.0, lanes.1), lanes.2), lanes.3)
        for index in (blocks * 32)..<bytes.count {
            hash = (hash ^ UInt64(bytes[index])) &* prime
        }
        return mix(hash, UInt64(bytes.count))
    }

    /// Folds `word` into `state`: multiply, rotate and multiply again, so every input bit
    /// reaches every output bit within a few words.
    @inline(__always)
    private static func mix(_ state: UInt64, _ word: UInt64) -> UInt64 {
        let spread = (state ^ (word &* 0xFF51_AFD7_ED55_8CCD))
        return ((spread << 31) | (spread >> 33)) &* 0xC4CE_B9FE_1A85_EC53
    }
}
