/// A set of distinct byte strings, each given a dense id 0, 1, 2, ... in order of first
/// insertion, so a column's values are hashed and compared once per distinct value instead of
/// once per row.
///
/// Open addressing with linear probing over FNV-1a hashes, kept at most half full.
struct ValueInterner {
    /// The bytes of all values, back to back; value `id` is `arena[starts[id]..<starts[id + 1]]`.
    private(set) var arena: [UInt8] = []
    private(set) var starts: [Int] = [0]
    private var hashes: [UInt64] = []
    /// Value ids by hash slot, -1 for an empty slot; the count is a power of two.
    private var slots: [Int32] = [Int32](repeating: -1, count: 64)

    /// Number of distinct values.
    var count: Int { hashes.count }

    /// Returns the id of `value`, adding it if new.
    mutating func intern(_ value: UnsafeBufferPointer<UInt8>) -> Int32 {
        let hash = StableHash.fnv1a(value)
        if let id = find(value, hash: hash) { return id.id }

        if (count + 1) * 2 > slots.count { grow() }
        let id = Int32(count)
        arena.append(contentsOf: value)
        starts.append(arena.count)
        hashes.append(hash)
        insertSlot(id: id, hash: hash)
        return id
    }

    /// Returns the id of `value`, or `nil` if it was never interned.
    func lookup(_ value: UnsafeBufferPointer<UInt8>) -> Int32? {
        find(value, hash: StableHash.fnv1a(value))?.id
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

    private func find(_ value: UnsafeBufferPointer<UInt8>, hash: UInt64) -> (id: Int32, slot: Int)? {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let id = slots[slot]
            if id < 0 { return nil }
            if hashes[Int(id)] == hash, equals(id, value) { return (id, slot) }
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
        for id in 0..<count {
            insertSlot(id: Int32(id), hash: hashes[id])
        }
    }
}
