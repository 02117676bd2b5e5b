/// Dense indices `0, 1, 2, …` for the (feature, row) pairs of one batch, in order of first
/// insertion, emptied between batches.
///
/// A table of at most `denseRowLimit` rows gets one slot per row, so the small tables of most
/// features need no hashing. Larger tables go through a `KeyIndex`. `removeAll()` clears
/// only the slots in use, so a batch costs time in its own size, not in the table sizes.
///
/// `final class` because it owns the slot memory and frees it in `deinit`.
final class RowIndexMap {
    /// Tables up to this many rows get a slot per row: 256 KiB per table at most.
    static let denseRowLimit = 1 << 16

    /// The first slot of each feature's table, or -1 for a table hashed in `hashedRows`.
    private let slotStarts: [Int]
    /// `[Σ dense R]`: the index of each row, or -1 when the row is not in the map.
    private let slots: UnsafeMutablePointer<Int32>
    private let slotCount: Int
    /// The slots set since the last `removeAll()`, `[count]` at most.
    private let usedSlots: ScratchBuffer<Int>
    private var usedSlotCount = 0
    /// Keys `(feature << 40) | row` of rows of large tables, and the map index of each.
    private var hashedRows: KeyIndex?
    private var indexOfHashed: [Int32] = []
    private(set) var count = 0

    /// Creates an empty map for tables of `rowCounts[f]` rows.
    init(rowCounts: [Int]) {
        precondition(rowCounts.allSatisfy { $0 >= 0 && $0 < (1 << 40) }, "table rows must be in 0..<2^40, got \(rowCounts)")
        var starts: [Int] = []
        var total = 0
        for rows in rowCounts {
            if rows <= Self.denseRowLimit {
                starts.append(total)
                total += rows
            } else {
                starts.append(-1)
            }
        }
        slotStarts = starts
        slotCount = total
        slots = .allocate(capacity: max(total, 1))
        slots.initialize(repeating: -1, count: max(total, 1))
        usedSlots = ScratchBuffer(capacity: 1024)
    }

    deinit {
        slots.deallocate()
    }

    /// Returns the index of (`feature`, `row`), adding the pair with index `count` when it is new.
    /// Pass `capacity`, the most pairs the batch can add, to `removeAll(capacity:)` first.
    @inline(__always)
    func insert(feature: Int, row: Int) -> Int {
        let start = slotStarts[feature]
        guard start >= 0 else { return insertHashed(feature: feature, row: row) }
        let slot = start + row
        let present = slots[slot]
        if present >= 0 { return Int(present) }
        slots[slot] = Int32(truncatingIfNeeded: count)
        usedSlots.base[usedSlotCount] = slot
        usedSlotCount += 1
        count += 1
        return count - 1
    }

    private func insertHashed(feature: Int, row: Int) -> Int {
        if hashedRows == nil { hashedRows = KeyIndex(capacity: 1024) }
        let key = Int64(feature) << 40 | Int64(row)
        let hashedIndex = hashedRows!.insert(key)
        if hashedIndex < indexOfHashed.count { return Int(indexOfHashed[hashedIndex]) }
        indexOfHashed.append(Int32(truncatingIfNeeded: count))
        count += 1
        return count - 1
    }

    /// Empties the map and makes room for `capacity` new pairs before the next `removeAll`.
    func removeAll(capacity: Int) {
        precondition(capacity < Int(Int32.max), "a batch of \(capacity) rows exceeds the 32-bit indices of RowIndexMap")
        for i in 0..<usedSlotCount {
            slots[usedSlots.base[i]] = -1
        }
        usedSlotCount = 0
        _ = usedSlots.reserve(capacity)
        if hashedRows != nil {
            hashedRows = nil
            indexOfHashed.removeAll(keepingCapacity: true)
        }
        count = 0
    }
}
