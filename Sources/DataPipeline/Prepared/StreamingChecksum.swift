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
        while carryBytes == 0, bytes.count - index >= 8, consumed + 8 <= wholeWordEnd {
            mixWord(bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            consumed += 8
            index += 8
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
        hash = (hash ^ (word &* 0xFF51_AFD7_ED55_8CCD))
        hash = ((hash << 27) | (hash >> 37)) &* 0xC4CE_B9FE_1A85_EC53
    }
}
