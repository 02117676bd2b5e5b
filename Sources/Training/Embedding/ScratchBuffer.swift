/// Memory that an embedding exchange reuses from step to step, so a step allocates nothing once
/// the buffers have grown to the largest batch. `final class` because the allocation has one
/// owner, which frees it in `deinit`.
///
/// The contents are uninitialized after growth, so callers write each element before reading it.
/// `Element` is a plain value type (`Float`, `Int32`, `Int`, ...), which needs no deinitialization.
final class ScratchBuffer<Element: BitwiseCopyable> {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var capacity: Int

    init(capacity: Int = 16) {
        self.capacity = max(capacity, 1)
        base = .allocate(capacity: self.capacity)
    }

    deinit {
        base.deallocate()
    }

    /// Returns storage for at least `count` elements, growing it (and losing the contents) when it
    /// is smaller.
    func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            base.deallocate()
            capacity = max(count, 2 * capacity)
            base = .allocate(capacity: capacity)
        }
        return base
    }
}
