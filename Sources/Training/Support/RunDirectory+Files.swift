import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A run directory or one of its files that cannot be created or written.
public enum RunDirectoryError: Error, Equatable, CustomStringConvertible {
    case invalidName(name: String)
    case notEmpty(path: String)
    case notADirectory(path: String)
    case createFailed(path: String, reason: String)
    case writeFailed(path: String, reason: String)
    case encodingFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidName(name):
            return "invalid run name '\(name)': use a non-empty folder name without '/'"
        case let .notEmpty(path):
            return "run directory \(path) already exists and is not empty; "
                + "choose another run name or pass --overwrite to reuse it"
        case let .notADirectory(path):
            return "run directory \(path) exists but is a file; remove it or choose another run name"
        case let .createFailed(path, reason):
            return "cannot create run directory \(path): \(reason); "
                + "check that the runs folder exists and is writable"
        case let .writeFailed(path, reason):
            return "cannot write \(path): \(reason); check that the run directory is writable and the disk has space"
        case let .encodingFailed(path, reason):
            return "cannot encode the content of \(path) as JSON: \(reason)"
        }
    }
}

extension RunDirectory {
    /// Replaces the file at `url` with `data` so that readers see the old or the new content,
    /// never a mix. The data goes to a temporary file in the same folder, which is synced with
    /// `fsync` and renamed over the target. Syncing the folder afterwards makes the rename
    /// survive a crash.
    static func writeAtomically(_ data: Data, to url: URL) throws {
        let folder = url.deletingLastPathComponent()
        let temporaryURL = folder.appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")

        let descriptor = open(temporaryURL.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw RunDirectoryError.writeFailed(path: url.path, reason: systemErrorMessage())
        }
        let written = writeFully(fileDescriptor: descriptor, data: data) && fsync(descriptor) == 0
        let writeReason = systemErrorMessage()
        closeFileDescriptor(descriptor)
        guard written else {
            unlink(temporaryURL.path)
            throw RunDirectoryError.writeFailed(path: url.path, reason: writeReason)
        }

        guard rename(temporaryURL.path, url.path) == 0 else {
            let renameReason = systemErrorMessage()
            unlink(temporaryURL.path)
            throw RunDirectoryError.writeFailed(path: url.path, reason: renameReason)
        }

        // Without this sync a crash may lose the new directory entry. A failure here still leaves
        // a complete file in place, so it is not reported.
        let folderDescriptor = open(folder.path, O_RDONLY | O_CLOEXEC)
        if folderDescriptor >= 0 {
            _ = fsync(folderDescriptor)
            closeFileDescriptor(folderDescriptor)
        }
    }

    /// Appends `data` to the file at `url`, creating it when missing.
    static func append(_ data: Data, to url: URL) throws {
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw RunDirectoryError.writeFailed(path: url.path, reason: systemErrorMessage())
        }
        defer { closeFileDescriptor(descriptor) }
        guard writeFully(fileDescriptor: descriptor, data: data) else {
            throw RunDirectoryError.writeFailed(path: url.path, reason: systemErrorMessage())
        }
    }
}
