#if canImport(Glibc)
import Glibc
#endif

/// Asks the kernel to back large scratch and output buffers with 2 MiB pages, so that filling
/// tens of MB takes a few dozen page faults instead of thousands. The machines this runs on
/// enable transparent huge pages on request (`madvise` mode); elsewhere the call has no effect.
enum HugePages {
    static let pageBytes = 2 << 20

    /// Advises huge pages for the whole 2 MiB pages inside `bytes`. Call it before the memory is
    /// first written; pages already touched stay small.
    static func advise(_ bytes: UnsafeMutableRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count >= pageBytes else { return }
        let start = (Int(bitPattern: base) + pageBytes - 1) / pageBytes * pageBytes
        let end = (Int(bitPattern: base) + bytes.count) / pageBytes * pageBytes
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_HUGEPAGE)
    }
}
