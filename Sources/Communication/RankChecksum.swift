/// Checksums of Float32 buffers, compared across ranks to detect replicas that diverged.
///
/// Data-parallel replicas must hold bit-identical parameters after every step. Comparing a
/// 64-bit checksum per rank costs one small allgather instead of sending the parameters.
public enum RankChecksum {
    static let fnvOffsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    static let fnvPrime: UInt64 = 0x0000_0100_0000_01b3

    /// Returns the 64-bit FNV-1a hash of the buffers' bytes, in order, so any changed bit (also of
    /// a NaN payload or a zero's sign) changes it with high probability.
    public static func checksum(_ buffers: [UnsafeBufferPointer<Float>]) -> UInt64 {
        var hash = fnvOffsetBasis
        for buffer in buffers {
            for byte in UnsafeRawBufferPointer(buffer) {
                hash = (hash ^ UInt64(byte)) &* fnvPrime
            }
        }
        return hash
    }

    public static func checksum(_ buffer: UnsafeBufferPointer<Float>) -> UInt64 {
        checksum([buffer])
    }

    /// Returns the ranks whose checksum of `buffers` differs from the majority's, in increasing
    /// order; empty when all agree. A tie between checksums goes to the one held by the lowest
    /// rank. Every rank calls it and gets the same list.
    public static func divergentRanks(_ buffers: [UnsafeBufferPointer<Float>],
                                      communicator: Communicator) throws -> [Int] {
        let checksums = try communicator.allgather(checksum(buffers))
        return divergentRanks(checksums: checksums)
    }

    /// Returns the indices of `checksums` that differ from the most frequent value.
    static func divergentRanks(checksums: [UInt64]) -> [Int] {
        var frequency: [UInt64: Int] = [:]
        for value in checksums {
            frequency[value, default: 0] += 1
        }
        // `checksums` is in rank order, so the first value reaching the highest count is the
        // lowest rank's among tied values.
        let highest = frequency.values.max() ?? 0
        guard let reference = checksums.first(where: { frequency[$0] == highest }) else { return [] }
        return checksums.indices.filter { checksums[$0] != reference }
    }
}
