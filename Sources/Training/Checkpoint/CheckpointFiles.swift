import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One binary file of a checkpoint being written: bytes are appended in order, counted and
/// checksummed on the way, and `finish()` syncs the file to disk before it is listed.
final class CheckpointFileWriter {
    let url: URL
    private var descriptor: Int32
    private var checksum = FNV1a64()
    private var byteCount = 0

    /// - Parameter device: a device to write in place of `url`, such as /dev/full for the
    ///   disk-full test hook; errors still name `url`.
    init(url: URL, device: String? = nil) throws {
        self.url = url
        if let device {
            descriptor = open(device, O_WRONLY | O_CLOEXEC)
        } else {
            descriptor = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        }
        guard descriptor >= 0 else {
            throw CheckpointError.writeFailed(path: url.path, reason: systemErrorMessage())
        }
    }

    deinit {
        if descriptor >= 0 { closeFileDescriptor(descriptor) }
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        checksum.update(bytes)
        byteCount += bytes.count
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let written = write(descriptor, base + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw CheckpointError.writeFailed(path: url.path, reason: systemErrorMessage())
            }
            offset += written
        }
    }

    func append<Element: BitwiseCopyable>(_ values: [Element]) throws {
        try values.withUnsafeBytes { try append($0) }
    }

    /// Syncs and closes the file and returns its manifest entry.
    func finish() throws -> CheckpointManifest.FileEntry {
        let synced = fsync(descriptor) == 0
        let reason = systemErrorMessage()
        closeFileDescriptor(descriptor)
        descriptor = -1
        guard synced else { throw CheckpointError.writeFailed(path: url.path, reason: reason) }
        return CheckpointManifest.FileEntry(name: url.lastPathComponent, bytes: byteCount, fnv1a64: checksum.hexDigest)
    }
}

/// Reads one listed file of a checkpoint front to back in blocks, checking its size first and
/// its checksum at the end, so no value of a damaged file is used without an error following.
struct CheckpointFileReader {
    /// Bytes read per `read` call; sized to keep a rank's extra memory small next to its tables.
    static let blockBytes = 8 << 20

    let url: URL
    let entry: CheckpointManifest.FileEntry

    init(directory: URL, entry: CheckpointManifest.FileEntry) {
        url = directory.appendingPathComponent(entry.name)
        self.entry = entry
    }

    /// Calls `body` with consecutive blocks of `elementBytes`-aligned bytes covering the whole
    /// file, then verifies the checksum.
    func read(elementBytes: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw CheckpointError.unreadable(path: url.path, reason: systemErrorMessage())
        }
        defer { closeFileDescriptor(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw CheckpointError.unreadable(path: url.path, reason: systemErrorMessage())
        }
        let size = Int(status.st_size)
        if size < entry.bytes {
            throw CheckpointError.truncated(path: url.path, bytes: size, expectedBytes: entry.bytes)
        }
        if size > entry.bytes {
            throw CheckpointError.invalidManifest(
                path: url.path, reason: "the file has \(size) bytes but the manifest lists \(entry.bytes)")
        }

        var checksum = FNV1a64()
        let blockBytes = max(elementBytes, Self.blockBytes / max(elementBytes, 1) * max(elementBytes, 1))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blockBytes, alignment: 16)
        defer { buffer.deallocate() }
        var offset = 0
        while offset < size {
            let wanted = min(blockBytes, size - offset)
            var filled = 0
            while filled < wanted {
                let count = Glibc.read(descriptor, buffer.baseAddress! + filled, wanted - filled)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else {
                    throw CheckpointError.unreadable(path: url.path,
                                                     reason: count < 0 ? systemErrorMessage() : "ended early at byte \(offset + filled)")
                }
                filled += count
            }
            let block = UnsafeRawBufferPointer(rebasing: buffer[0..<wanted])
            checksum.update(block)
            try body(block)
            offset += wanted
        }
        if checksum.hexDigest != entry.fnv1a64 {
            throw CheckpointError.checksumMismatch(path: url.path, actual: checksum.hexDigest, expected: entry.fnv1a64)
        }
    }

    /// Reads the whole file as `Element`s after verifying it.
    func readAll<Element: BitwiseCopyable>(_: Element.Type) throws -> [Element] {
        let stride = MemoryLayout<Element>.stride
        guard entry.bytes % stride == 0 else {
            throw CheckpointError.invalidManifest(
                path: url.path, reason: "\(entry.bytes) bytes is not a whole number of \(stride)-byte values")
        }
        var values = [Element]()
        values.reserveCapacity(entry.bytes / stride)
        try read(elementBytes: stride) { block in
            values.append(contentsOf: block.bindMemory(to: Element.self))
        }
        return values
    }
}

/// Syncs a folder, so a new or renamed entry in it survives a crash.
func syncDirectory(_ url: URL) {
    let descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
    if descriptor >= 0 {
        _ = fsync(descriptor)
        closeFileDescriptor(descriptor)
    }
}
