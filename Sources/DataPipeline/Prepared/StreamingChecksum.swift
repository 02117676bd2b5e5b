/// `PreparedFileFormat.checksum` computed over a file given in pieces, so a file can be
/// checksummed from its sections without copying them into one buffer.
///
/// The total length must be known up front, because it seeds the hash. Pieces may end at any
/// byte; up to 7 bytes are carried over until a whole 8-byte word is available.
struct StreamingChecksum {
    private var hash: UInt64
    private let totalBytes: Int
    private var consumed = 0
    private var carry: UInt64 = 0
    private var carryBytes = 0

    init(totalBytes: Int) {
        self.totalBytes = totalBytes
        hash = 0x9E37_79B9_7F4A_7C15 ^ UInt64(totalBytes)
    }

    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        let wholeWordEnd = (totalBytes / 8) * 8
        var index = 0
        // A word begun in an earlier piece is completed byte by byte first.
        while carryBytes != 0, index < bytes.count {
            addByte(bytes[index])
            index += 1
        }
        if carryBytes == 0 {
            // The hash lives in a local here, so the chain of multiplies does not go through
            // memory on every word. Nearly all bytes of a file are mixed in this loop.
            let words = min((bytes.count - index) / 8, max(0, wholeWordEnd - consumed) / 8)
            var local = hash
            for word in 0..<words {
                local = Self.mix(local, bytes.loadUnaligned(fromByteOffset: index + word * 8, as: UInt64.self))
            }
            hash = local
            consumed += words * 8
            index += words * 8
        }
        while index < bytes.count {
            addByte(bytes[index])
            index += 1
        }
    }

    mutating func addZeros(_ count: Int) {
        precondition(count >= 0, "a gap of \(count) bytes")
        let zeros = [UInt8](repeating: 0, count: min(count, 4096))
        var left = count
        zeros.withUnsafeBytes { buffer in
            while left > 0 {
                let piece = min(left, buffer.count)
                add(UnsafeRawBufferPointer(rebasing: buffer[0..<piece]))
                left -= piece
            }
        }
    }

    func finish() -> UInt64 {
        precondition(consumed == totalBytes && carryBytes == 0, "checksummed \(consumed) of \(totalBytes) bytes")
        return hash ^ (hash >> 29)
    }

    private mutating func addByte(_ byte: UInt8) {
        let wholeWordEnd = (totalBytes / 8) * 8
        if consumed >= wholeWordEnd {
            hash = (hash ^ UInt64(byte)) &* StableHash.prime
            consumed += 1
            return
        }
        carry |= UInt64(byte) << UInt64(8 * carryBytes)
        carryBytes += 1
        if carryBytes == 8 {
            mixWord(carry)
            consumed += 8
            carry = 0
            carryBytes = 0
        }
    }

    private mutating func mixWord(_ word: UInt64) {
        hash = Self.mix(hash, word)
    }

    @inline(__always)
    private static func mix(_ hash: UInt64, _ word: UInt64) -> UInt64 {
        let mixed = hash ^ (word &* 0xFF51_AFD7_ED55_8CCD)
        return ((mixed << 27) | (mixed >> 37)) &* 0xC4CE_B9FE_1A85_EC53
    }
}
