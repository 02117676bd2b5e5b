#if canImport(Glibc)
import Glibc
#endif

/// A growable array of UInt32 for the parser's field offsets and row lines, appended to without
/// the uniqueness and capacity checks of `Array.append` on every call.
///
/// Memory comes from malloc uninitialized, so capacity reserved beyond what is written costs
/// address space only, and large buffers ask for huge pages. `@unchecked Sendable` because only the parser that creates a buffer
/// writes to it, and `CSVTable` shares it only after parsing has finished, for reading.
final class OffsetBuffer: @unchecked Sendable {
    private(set) var base: UnsafeMutablePointer<UInt32>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = max(16, capacity)
        base = Self.allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    @inline(__always)
    func append(_ value: UInt32) {
        if count == capacity { grow() }
        base[count] = value
        count += 1
    }

    /// Appends `source[index]` for every index in `indices` after one capacity check, for the
    /// kept fields of a row.
    @inline(__always)
    func append(_ source: OffsetBuffer, at indices: UnsafeBufferPointer<Int>) {
        while capacity - count < indices.count { grow() }
        let target = base + count
        let values = source.base
        for (position, index) in indices.enumerated() { target[position] = values[index] }
        count += indices.count
    }

    /// Drops the values from `index` on.
    func truncate(to index: Int) {
        precondition(index >= 0 && index <= count, "truncate to \(index) outside 0...\(count)")
        count = index
    }

    @inline(__always)
    subscript(index: Int) -> UInt32 { base[index] }

    var buffer: UnsafeBufferPointer<UInt32> { UnsafeBufferPointer(start: base, count: count) }

    private func grow() {
        let larger = Self.allocate(capacity: capacity * 2)
        larger.moveInitialize(from: base, count: count)
        base.deallocate()
        base = larger
        capacity *= 2
    }

    private static func allocate(capacity: Int) -> UnsafeMutablePointer<UInt32> {
        let base = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
        HugePages.advise(UnsafeMutableRawBufferPointer(start: base, count: capacity * 4))
        return base
    }
}
