/// Typed forms of the byte operations, for arrays of plain values (`Float`, `Int32`, `Int64`,
/// `UInt8`, `Double`, ...), and small reductions built on `allgather`.
///
/// The reductions of single values gather every rank's value and combine them in rank order on
/// each rank, so sums of `Double` are bit-identical across ranks.
extension Communicator {
    // MARK: - Point to point

    public func send<T: BitwiseCopyable>(_ values: [T], to destination: Int, tag: Int) throws {
        try values.withUnsafeBytes { try send($0, to: destination, tag: tag) }
    }

    /// Receives exactly `count` values from `source`.
    public func receive<T: BitwiseCopyable>(_ type: T.Type = T.self, count: Int, from source: Int,
                                            tag: Int) throws -> [T] {
        try [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            try receive(into: UnsafeMutableRawBufferPointer(buffer), from: source, tag: tag)
            initialized = count
        }
    }

    /// Sends `values` to `destination` while receiving `receiveCount` values from `source`.
    public func sendReceive<T: BitwiseCopyable>(_ values: [T], to destination: Int, receiveCount: Int,
                                                from source: Int, tag: Int) throws -> [T] {
        try values.withUnsafeBytes { outgoing in
            try [T](unsafeUninitializedCapacity: receiveCount) { buffer, initialized in
                try sendReceive(send: outgoing, to: destination, receive: UnsafeMutableRawBufferPointer(buffer),
                                from: source, tag: tag)
                initialized = receiveCount
            }
        }
    }

    // MARK: - Broadcast

    /// Replaces `array` on every rank with `root`'s array; the counts need not agree beforehand.
    public func broadcast<T: BitwiseCopyable>(_ array: inout [T], root: Int) throws {
        var count = Int64(array.count)
        try withUnsafeMutableBytes(of: &count) { try broadcast($0, root: root) }
        if rank != root {
            array = [T](unsafeUninitializedCapacity: Int(count)) { _, initialized in initialized = Int(count) }
        }
        try array.withUnsafeMutableBytes { try broadcast($0, root: root) }
    }

    /// Returns `root`'s `value` on every rank.
    public func broadcast<T: BitwiseCopyable>(_ value: T, root: Int) throws -> T {
        var copy = value
        try withUnsafeMutableBytes(of: &copy) { try broadcast($0, root: root) }
        return copy
    }

    // MARK: - Gather

    /// Returns every rank's `value`, indexed by rank.
    public func allgather<T: BitwiseCopyable>(_ value: T) throws -> [T] {
        try allgather([value])
    }

    /// Returns the concatenation of every rank's `values` in rank order. All ranks pass the same count.
    public func allgather<T: BitwiseCopyable>(_ values: [T]) throws -> [T] {
        let total = values.count * worldSize
        return try values.withUnsafeBytes { outgoing in
            try [T](unsafeUninitializedCapacity: total) { buffer, initialized in
                try allgather(outgoing, into: UnsafeMutableRawBufferPointer(buffer))
                initialized = total
            }
        }
    }

    /// Returns every rank's `values`, indexed by rank; the counts may differ between ranks.
    public func allgatherv<T: BitwiseCopyable>(_ values: [T]) throws -> [[T]] {
        let counts = try allgather(Int64(values.count)).map { Int($0) }
        let stride = MemoryLayout<T>.stride
        let total = counts.reduce(0, +)
        let flat = try values.withUnsafeBytes { outgoing in
            try [T](unsafeUninitializedCapacity: total) { buffer, initialized in
                try allgatherv(outgoing, counts: counts.map { $0 * stride }, into: UnsafeMutableRawBufferPointer(buffer))
                initialized = total
            }
        }
        return split(flat, counts: counts)
    }

    /// Returns every rank's `values`, indexed by rank, on `root`, and `[]` on the other ranks.
    public func gather<T: BitwiseCopyable>(_ values: [T], toRoot root: Int) throws -> [[T]] {
        let counts = try allgather(Int64(values.count)).map { Int($0) }
        let stride = MemoryLayout<T>.stride
        let total = rank == root ? counts.reduce(0, +) : 0
        let flat = try values.withUnsafeBytes { outgoing in
            try [T](unsafeUninitializedCapacity: total) { buffer, initialized in
                try gatherv(outgoing, counts: counts.map { $0 * stride }, into: UnsafeMutableRawBufferPointer(buffer),
                            root: root)
                initialized = total
            }
        }
        return rank == root ? split(flat, counts: counts) : []
    }

    /// Returns every rank's bytes (for example an encoded metrics record) on `root`, and `[]` elsewhere.
    public func gatherBytes(_ bytes: [UInt8], toRoot root: Int) throws -> [[UInt8]] {
        try gather(bytes, toRoot: root)
    }

    // MARK: - All to all

    /// Sends `blocks[d]` to rank d and returns the block received from each rank, indexed by source.
    /// The block sizes may differ; they are exchanged first.
    public func allToAllV<T: BitwiseCopyable>(_ blocks: [[T]]) throws -> [[T]] {
        precondition(blocks.count == worldSize, "allToAllV needs \(worldSize) blocks, got \(blocks.count)")
        let sendCounts = blocks.map { Int64($0.count) }
        let receiveCounts = try allToAll(sendCounts).map { Int($0) }

        let stride = MemoryLayout<T>.stride
        let flatSend = blocks.flatMap { $0 }
        let total = receiveCounts.reduce(0, +)
        let flat = try flatSend.withUnsafeBytes { outgoing in
            try [T](unsafeUninitializedCapacity: total) { buffer, initialized in
                try allToAllV(outgoing, sendCounts: blocks.map { $0.count * stride },
                              into: UnsafeMutableRawBufferPointer(buffer),
                              receiveCounts: receiveCounts.map { $0 * stride })
                initialized = total
            }
        }
        return split(flat, counts: receiveCounts)
    }

    /// Sends `values[d]` to rank d and returns the value received from each rank, indexed by source.
    public func allToAll<T: BitwiseCopyable>(_ values: [T]) throws -> [T] {
        precondition(values.count == worldSize, "allToAll needs \(worldSize) values, got \(values.count)")
        return try values.withUnsafeBytes { outgoing in
            try [T](unsafeUninitializedCapacity: values.count) { buffer, initialized in
                try allToAll(outgoing, into: UnsafeMutableRawBufferPointer(buffer))
                initialized = values.count
            }
        }
    }

    // MARK: - Reductions of single values

    public func allreduceSum(_ value: Int) throws -> Int {
        Int(try allgather(Int64(value)).reduce(0, +))
    }

    public func allreduceSum(_ value: Int64) throws -> Int64 {
        try allgather(value).reduce(0, +)
    }

    /// Sums in rank order, so every rank gets the same bits.
    public func allreduceSum(_ value: Double) throws -> Double {
        try allgather(value).reduce(0, +)
    }

    public func allreduceMax(_ value: Int) throws -> Int {
        Int(try allgather(Int64(value)).max()!)
    }

    public func allreduceMin(_ value: Int) throws -> Int {
        Int(try allgather(Int64(value)).min()!)
    }

    public func allreduceMax(_ value: Double) throws -> Double {
        try allgather(value).max()!
    }

    /// Returns true on every rank when `value` is true on all ranks.
    public func allreduceAnd(_ value: Bool) throws -> Bool {
        try allgather(UInt8(value ? 1 : 0)).allSatisfy { $0 == 1 }
    }

    private func split<T>(_ flat: [T], counts: [Int]) -> [[T]] {
        var blocks: [[T]] = []
        var start = 0
        for count in counts {
            blocks.append(Array(flat[start..<(start + count)]))
            start += count
        }
        return blocks
    }
}
