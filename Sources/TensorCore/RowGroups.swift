/// A partition of the B rows of a batch into G groups by an integer key per row, such as the
/// scene of each row.
///
/// `order` lists the row positions sorted by key, stable within a key, so group g's rows are
/// `order[offsets[g] ..< offsets[g + 1]]` in their original relative order. Operations that run
/// one GEMM per group pack those rows, compute, and write each result back to the row's own
/// position, so their output row b always belongs to input row b. Building the partition is a
/// counting sort: O(B + G) time and memory.
public struct RowGroups: Sendable, Equatable {
    /// Number of groups G; keys lie in 0..<G.
    public let groupCount: Int
    /// Row positions `[B]` sorted by key, stable within a key.
    public let order: [Int]
    /// Start of each group in `order`, `[G + 1]`, with `offsets[G] == B`.
    public let offsets: [Int]

    /// Groups rows by `keys` `[B]`, each in 0..<`groupCount`.
    public init(keys: [Int32], groupCount: Int) {
        precondition(groupCount > 0, "RowGroups needs at least one group, got \(groupCount)")
        var counts = [Int](repeating: 0, count: groupCount)
        for (row, key) in keys.enumerated() {
            precondition(key >= 0 && Int(key) < groupCount,
                         "row \(row) has group key \(key), expected a key in 0..<\(groupCount)")
            counts[Int(key)] += 1
        }
        var offsets = [Int](repeating: 0, count: groupCount + 1)
        for group in 0..<groupCount {
            offsets[group + 1] = offsets[group] + counts[group]
        }
        var next = Array(offsets.dropLast())
        var order = [Int](repeating: 0, count: keys.count)
        for (row, key) in keys.enumerated() {
            order[next[Int(key)]] = row
            next[Int(key)] += 1
        }
        self.groupCount = groupCount
        self.order = order
        self.offsets = offsets
    }

    /// Number of rows B.
    public var rowCount: Int { order.count }

    /// Returns the original positions of group g's rows, in increasing order.
    public func rows(ofGroup group: Int) -> ArraySlice<Int> {
        order[offsets[group]..<offsets[group + 1]]
    }
}

/// Copies the rows `rows` of `source` `[B, N]` (row width `width`) one after another into
/// `destination`, which must hold `rows.count · width` elements.
@inline(__always)
func packRows(_ source: UnsafeBufferPointer<Float>, rows: ArraySlice<Int>, width: Int,
              into destination: UnsafeMutableBufferPointer<Float>) {
    for (packed, row) in rows.enumerated() {
        let from = row * width
        let to = packed * width
        for column in 0..<width { destination[to + column] = source[from + column] }
    }
}

/// Copies packed rows back to the positions `rows` of `destination` `[B, N]`, overwriting them.
@inline(__always)
func unpackRows(_ source: UnsafeBufferPointer<Float>, rows: ArraySlice<Int>, width: Int,
                into destination: UnsafeMutableBufferPointer<Float>) {
    for (packed, row) in rows.enumerated() {
        let from = packed * width
        let to = row * width
        for column in 0..<width { destination[to + column] = source[from + column] }
    }
}
