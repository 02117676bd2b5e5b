#if canImport(Glibc)
import Glibc
#endif

/// Immutable bytes that a `CSVTable` reads its fields from: either a read-only private mapping
/// of a file or a heap copy. The bytes live as long as the storage object.
///
/// A mapping saves copying the file into memory; its pages come from the page cache. When the
/// file cannot be mapped (a size of 0, a file system without mmap) it is read into memory
/// instead. `@unchecked Sendable` because the bytes are never written after `init` returns.
final class ByteStorage: @unchecked Sendable {
    let bytes: UnsafeBufferPointer<UInt8>
    /// Bytes to `munmap` on release, 0 for heap memory.
    private let mappedBytes: Int

    /// Copies `array` into new heap memory.
    convenience init(copying array: [UInt8]) {
        self.init(concatenating: array, [])
    }

    /// Copies `first` followed by `second` into new heap memory.
    init(concatenating first: [UInt8], _ second: [UInt8]) {
        let total = first.count + second.count
        let base = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, total))
        first.withUnsafeBufferPointer { source in
            if let address = source.baseAddress { base.initialize(from: address, count: source.count) }
        }
        second.withUnsafeBufferPointer { source in
            if let address = source.baseAddress { (base + first.count).initialize(from: address, count: source.count) }
        }
        bytes = UnsafeBufferPointer(start: base, count: total)
        mappedBytes = 0
    }

    /// Copies `prefix` followed by `suffix` into new heap memory.
    init(concatenating prefix: UnsafeBufferPointer<UInt8>, _ suffix: [UInt8]) {
        let total = prefix.count + suffix.count
        let base = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, total))
        if let address = prefix.baseAddress { base.initialize(from: address, count: prefix.count) }
        suffix.withUnsafeBufferPointer { source in
            if let address = source.baseAddress { (base + prefix.count).initialize(from: address, count: source.count) }
        }
        bytes = UnsafeBufferPointer(start: base, count: total)
        mappedBytes = 0
    }

    private init(heap base: UnsafeMutablePointer<UInt8>, count: Int) {
        bytes = UnsafeBufferPointer(start: base, count: count)
        mappedBytes = 0
    }

    private init(mapped base: UnsafeRawPointer, count: Int) {
        bytes = UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: count)
        mappedBytes = count
    }

    deinit {
        if mappedBytes > 0 {
            munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress!), mappedBytes)
        } else {
            bytes.baseAddress.map { UnsafeMutablePointer(mutating: $0).deallocate() }
        }
    }

    /// Returns the contents of the regular file at `path`, mapped if possible and read otherwise,
    /// or `nil` if it cannot be opened or read.
    static func contents(ofFile path: String) -> ByteStorage? {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }

        let size = Int(status.st_size)
        if size > 0 {
            // MAP_POPULATE maps every cached page in one call instead of one fault per few pages.
            let address = mmap(nil, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, descriptor, 0)
            if let address, address != MAP_FAILED {
                return ByteStorage(mapped: UnsafeRawPointer(address), count: size)
            }
        }
        return read(descriptor, sizeHint: size)
    }

    /// Reads the descriptor to its end; the size from fstat is a hint, since the file may grow.
    private static func read(_ descriptor: Int32, sizeHint: Int) -> ByteStorage? {
        var capacity = max(sizeHint, 1 << 16)
        var base = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        var count = 0
        while true {
            if count == capacity {
                let larger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
                larger.moveInitialize(from: base, count: count)
                base.deallocate()
                base = larger
                capacity *= 2
            }
            let result = Glibc.read(descriptor, base + count, capacity - count)
            if result < 0 {
                if errno == EINTR { continue }
                base.deallocate()
                return nil
            }
            if result == 0 { break }
            count += result
        }
        return ByteStorage(heap: base, count: count)
    }
}
