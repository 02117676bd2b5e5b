import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A destination for complete log text. `write` receives one or more whole lines, each ending in
/// a newline, and must not interleave them with text from other threads.
public protocol LogSink: AnyObject, Sendable {
    func write(_ text: String)
}

/// Standard output or standard error of the process.
///
/// In-process ranks are threads of one process and share these two streams, so every instance
/// writes under one process-wide lock, with one `write(2)` call per message where the kernel
/// accepts it whole. Lines then never mix, even when stdout and stderr go to the same terminal.
public final class StandardStreamSink: LogSink, @unchecked Sendable {
    // @unchecked: the only state is an immutable file descriptor, and every write takes
    // `streamLock` first.
    public static let standardOutput = StandardStreamSink(fileDescriptor: STDOUT_FILENO)
    public static let standardError = StandardStreamSink(fileDescriptor: STDERR_FILENO)

    private static let streamLock = NSLock()
    private let fileDescriptor: Int32

    private init(fileDescriptor: Int32) {
        self.fileDescriptor = fileDescriptor
    }

    public func write(_ text: String) {
        Self.streamLock.lock()
        defer { Self.streamLock.unlock() }
        // A failed write to the console cannot be reported anywhere better, so it is dropped.
        _ = writeFully(fileDescriptor: fileDescriptor, data: Data(text.utf8))
    }
}

/// A log file opened for appending, such as a run directory's `train.log`.
///
/// One instance may be shared by the loggers of all in-process ranks.
public final class LogFile: LogSink, @unchecked Sendable {
    // @unchecked: `fileDescriptor` changes only in `init`, `write` and `close`, and every
    // access after `init` takes `lock` first.
    public let url: URL
    private let lock = NSLock()
    private var fileDescriptor: Int32

    /// Opens `url` for appending, creating it with mode 0644 when missing.
    ///
    /// - Throws: `LogFileError` naming the path and the system error.
    public init(url: URL) throws {
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw LogFileError(path: url.path, reason: systemErrorMessage())
        }
        self.url = url
        self.fileDescriptor = descriptor
    }

    deinit {
        if fileDescriptor >= 0 { closeFileDescriptor(fileDescriptor) }
    }

    /// Appends `text`. After a failed write the file is closed, one warning goes to standard
    /// error, and later writes are dropped, so that a full disk does not stop the training run.
    public func write(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        guard fileDescriptor >= 0 else { return }
        if !writeFully(fileDescriptor: fileDescriptor, data: Data(text.utf8)) {
            let reason = systemErrorMessage()
            closeFileDescriptor(fileDescriptor)
            fileDescriptor = -1
            StandardStreamSink.standardError.write(
                "\(Logger.timestamp(Date())) WARNING cannot write log file \(url.path): \(reason); "
                    + "later log lines are not written to this file\n")
        }
    }

    /// Whether later writes still reach the file: false after `close` or a failed write.
    public var isOpen: Bool {
        lock.lock()
        defer { lock.unlock() }
        return fileDescriptor >= 0
    }

    /// Flushes written lines to the storage device.
    public func synchronize() {
        lock.lock()
        defer { lock.unlock() }
        if fileDescriptor >= 0 { _ = fsync(fileDescriptor) }
    }

    /// Closes the file; later writes are dropped.
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        if fileDescriptor >= 0 {
            closeFileDescriptor(fileDescriptor)
            fileDescriptor = -1
        }
    }
}

/// A log file that could not be opened.
public struct LogFileError: Error, Equatable, CustomStringConvertible {
    public var path: String
    /// The system error message.
    public var reason: String

    public var description: String {
        "cannot open log file \(path): \(reason); check that the directory exists and is writable"
    }
}
