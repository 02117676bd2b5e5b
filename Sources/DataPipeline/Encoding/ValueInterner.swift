/// A set of distinct byte strings, each given a dense id 0, 1, 2, ... in order of first
/// insertion, so a column's values are hashed and compared once per distinct value instead of
/// once per row.
///
/// Canonical decimal integers ("0", or 1 to 18 digits without a leading zero), which most id
/// columns hold, are found by their number: in an array indexed by it below `directLimit`, else
/// in an open-addressing table. All other values are in an open-addressing table keyed by their
/// FNV-1a hash. Both tables probe linearly and are kept at most half full. Canonical digits
/// and their number map one to one, and which table a value goes to depends on its bytes only,
/// so every byte string still has exactly one id.
struct ValueInterner {
    /// The bytes of all values, back to back; value `id` is `arena[starts[id]..<starts[id + 1]]`.
    private(set) var arena: [UInt8] = []
    private(set) var starts: [Int] = [0]
    /// FNV-1a hash of every value, `[count]`.
    private var hashes: [UInt64] = []
    /// Ids of the values in the byte table, so it can be rebuilt when it grows.
    private var byteIds: [Int32] = []
    /// Value ids by hash slot, -1 for an empty slot; the count is a power of two.
    private var slots: [Int32] = [Int32](repeating: -1, count: 64)
    /// Integer keys and their value ids by slot (-1 for an empty slot); the count is a power of two.
    private var integerKeys: [Int64] = [Int64](repeating: 0, count: 64)
    private var integerSlots: [Int32] = [Int32](repeating: -1, count: 64)
    private var integerCount = 0
    /// Value ids of the integers below `directLimit`, indexed by the number (-1 where absent).
    /// Small ids (users, items) are the most common integers and the densest, and an array
    /// indexed by them keeps the lookups of a column within a few cache lines of one another.
    private var directIds: [Int32] = []
    static let directLimit: Int64 = 1 << 18

    /// Number of distinct values.
    var count: Int { hashes.count }

    /// Returns the id of `value`, adding it if new.
    mutating func intern(_ value: UnsafeBufferPointer<UInt8>) -> Int32 {
        if let number = Self.canonicalInteger(value) {
            if number < Self.directLimit {
                if number >= directIds.count { growDirect(toHold: number) }
                let found = directIds[Int(number)]
                if found >= 0 { return found }
                let id = append(value, hash: StableHash.fnv1a(value))
                directIds[Int(number)] = id
                return id
            }
            let slot = integerSlot(of: number)
            let found = integerSlots[slot]
            if found >= 0 { return found }

            let id = append(value, hash: StableHash.fnv1a(value))
            integerKeys[slot] = number
            integerSlots[slot] = id
            integerCount += 1
            if integerCount * 2 > integerSlots.count { growIntegers() }
            return id
        }

        let hash = StableHash.fnv1a(value)
        if let id = find(value, hash: hash) { return id }
        if (byteIds.count + 1) * 2 > slots.count { grow() }
        let id = append(value, hash: hash)
        byteIds.append(id)
        insertSlot(id: id, hash: hash)
        return id
    }

    /// Returns the id of `value`, or `nil` if it was never interned.
    func lookup(_ value: UnsafeBufferPointer<UInt8>) -> Int32? {
        if let number = Self.canonicalInteger(value) {
            if number < Self.directLimit {
                return number < directIds.count && directIds[Int(number)] >= 0 ? directIds[Int(number)] : nil
            }
            let id = integerSlots[integerSlot(of: number)]
            return id >= 0 ? id : nil
        }
        return find(value, hash: StableHash.fnv1a(value))
    }

    /// Calls `body` with the bytes of value `id`.
    func withBytes<R>(_ id: Int32, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let range = starts[Int(id)]..<starts[Int(id) + 1]
        return try arena.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[range])) }
    }

    /// Returns the text of value `id`.
    func text(_ id: Int32) -> String {
        withBytes(id) { String(decoding: $0, as: UTF8.self) }
    }

    /// Returns the stored hash of value `id`.
    func hash(_ id: Int32) -> UInt64 { hashes[Int(id)] }

    /// Returns whether value `a` sorts before value `b` by unsigned byte order, which for
    /// UTF-8 is Unicode code point order.
    func precedes(_ a: Int32, _ b: Int32) -> Bool {
        withBytes(a) { x in
            withBytes(b) { y in
                let shared = min(x.count, y.count)
                for index in 0..<shared where x[index] != y[index] {
                    return x[index] < y[index]
                }
                return x.count < y.count
            }
        }
    }

    /// Returns the first 8 bytes of value `id` as a big-endian number, zero-padded. Keys order
    /// like `precedes` wherever they differ; equal keys need `precedes` to decide.
    func sortKey(_ id: Int32) -> UInt64 {
        withBytes(id) { bytes in
            var key: UInt64 = 0
            for index in 0..<8 {
                key = key << 8 | (index < bytes.count ? UInt64(bytes[index]) : 0)
            }
            return key
        }
    }

    /// Returns the number of a canonical decimal integer, or `nil` for any other bytes. Up to 18
    /// digits always fit an Int64.
    @inline(__always)
    static func canonicalInteger(_ value: UnsafeBufferPointer<UInt8>) -> Int64? {
        let count = value.count
        guard count >= 1, count <= 18, let base = value.baseAddress else { return nil }
        if count > 1, base[0] == UInt8(ascii: "0") { return nil }
        var number: Int64 = 0
        for index in 0..<count {
            let digit = base[index] &- UInt8(ascii: "0")
            guard digit <= 9 else { return nil }
            number = number &* 10 &+ Int64(digit)
        }
        return number
    }

    private mutating func append(_ value: UnsafeBufferPointer<UInt8>, hash: UInt64) -> Int32 {
        let id = Int32(count)
        arena.append(contentsOf: value)
        starts.append(arena.count)
        hashes.append(hash)
        return id
    }

    /// Returns the slot that contains `number`, or the empty slot where it would go.
    @inline(__always)
    private func integerSlot(of number: Int64) -> Int {
        integerKeys.withUnsafeBufferPointer { keys in
            integerSlots.withUnsafeBufferPointer { ids in
                let mask = ids.count - 1
                var slot = Int(truncatingIfNeeded: (UInt64(bitPattern: number) &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
                while ids[slot] >= 0, keys[slot] != number { slot = (slot + 1) & mask }
                return slot
            }
        }
    }

    private mutating func growDirect(toHold number: Int64) {
        var size = max(1024, directIds.count)
        while size <= Int(number) { size *= 2 }
        directIds.append(contentsOf: repeatElement(-1, count: size - directIds.count))
    }

    private mutating func growIntegers() {
        let oldKeys = integerKeys
        let oldIds = integerSlots
        integerKeys = [Int64](repeating: 0, count: oldIds.count * 2)
        integerSlots = [Int32](repeating: -1, count: oldIds.count * 2)
        for (key, id) in zip(oldKeys, oldIds) where id >= 0 {
            let slot = integerSlot(of: key)
            integerKeys[slot] = key
            integerSlots[slot] = id
        }
    }

    private func find(_ value: UnsafeBufferPointer<UInt8>, hash: UInt64) -> Int32? {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let id = slots[slot]
            if id < 0 { return nil }
            if hashes[Int(id)] == hash, equals(id, value) { return id }
            slot = (slot + 1) & mask
        }
    }

    private func equals(_ id: Int32, _ value: UnsafeBufferPointer<UInt8>) -> Bool {
        let start = starts[Int(id)]
        let length = starts[Int(id) + 1] - start
        if length != value.count { return false }
        return arena.withUnsafeBufferPointer { stored in
            for index in 0..<length where stored[start + index] != value[index] {
                return false
            }
            return true
        }
    }

    private mutating func insertSlot(id: Int32, hash: UInt64) {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while slots[slot] >= 0 { slot = (slot + 1) & mask }
        slots[slot] = id
    }

    private mutating func grow() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        for id in byteIds {
            insertSlot(id: id, hash: hashes[Int(id)])
        }
    }
}
