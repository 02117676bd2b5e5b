import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Atomic replacement of a file: a temporary file beside the target is filled, flushed with
/// fsync and renamed over the target. A crash therefore leaves either the old file or the
/// complete new one under the target's name, never a half-written one.
enum AtomicFileWrite {
    /// Bytes written between two requests to start writeback. Starting the disk writes while
    /// later pieces are still being copied leaves less for the final fsync to wait for.
    static let writebackChunkBytes = 4 << 20

    /// Creates a temporary file beside `path`, lets `write` fill it (returning an errno value on
    /// failure), sets its size to `fileBytes`, flushes it with fsync and renames it over `path`,
    /// then flushes the folder so the rename is durable too.
    static func write(to path: String, fileBytes: Int, _ write: (Int32) -> Int32?) throws {
        let temporary = "\(path).tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else {
            throw DataError.fileAccess(path: temporary, reason: "cannot create the file: \(String(cString: strerror(errno)))")
        }
        var writeError = write(descriptor)
        if writeError == nil, ftruncate(descriptor, off_t(fileBytes)) != 0 { writeError = errno }
        if writeError == nil, fsync(descriptor) != 0 { writeError = errno }
        close(descriptor)
        if let writeError {
            unlink(temporary)
            throw DataError.fileAccess(path: temporary, reason: "write failed: \(String(cString: strerror(writeError)))")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw DataError.fileAccess(path: path, reason: "cannot rename \(temporary) to it: \(reason)")
        }

        // The rename itself is durable only once the folder entry is flushed.
        let folder = open((path as NSString).deletingLastPathComponent, O_RDONLY)
        if folder >= 0 {
            fsync(folder)
            close(folder)
        }
    }

    /// Writes all of `bytes` at file offset `offset`, and starts the kernel's writeback of each
    /// `writebackChunkBytes` piece. Returns the errno value of a failure, or nil.
    static func writeFully(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int32? {
        var written = 0
        var writebackStart = 0
        while written < bytes.count {
            let piece = min(bytes.count - written, writebackChunkBytes)
            let result = pwrite(descriptor, bytes.baseAddress! + written, piece, off_t(offset + written))
            if result < 0 {
                if errno == EINTR { continue }
                return errno
            }
            written += result
            if written - writebackStart >= writebackChunkBytes || written == bytes.count {
                startWriteback(descriptor, offset: offset + writebackStart, bytes: written - writebackStart)
                writebackStart = written
            }
        }
        return nil
    }

    /// `sync_file_range(2)` with `SYNC_FILE_RANGE_WRITE`: starts writeback of the dirty pages in
    /// the range and returns without waiting for it. The Glibc module does not export it, so it
    /// is looked up once; `nil` where the C library lacks it.
    private static let syncFileRange: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sync_file_range") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32).self)
    }()

    /// Starts writeback of `bytes` bytes at `offset`. Only a hint: a failure (a file system
    /// without support, a C library without the call) is ignored, because the fsync that
    /// follows every write still flushes everything.
    private static func startWriteback(_ descriptor: Int32, offset: Int, bytes: Int) {
        let writeOnly: UInt32 = 2  // SYNC_FILE_RANGE_WRITE in <fcntl.h>
        _ = syncFileRange?(descriptor, Int64(offset), Int64(bytes), writeOnly)
    }
}
