import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes all of `data`, retrying after partial writes and interrupts.
/// Returns `false` when the system reports an error, which is left in `errno`.
func writeFully(fileDescriptor: Int32, data: Data) -> Bool {
    data.withUnsafeBytes { buffer -> Bool in
        guard let base = buffer.baseAddress else { return true }
        var offset = 0
        while offset < buffer.count {
            let written = write(fileDescriptor, base + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }
}

/// Closes a descriptor from inside types that have their own `close` method.
func closeFileDescriptor(_ fileDescriptor: Int32) {
    _ = close(fileDescriptor)
}

/// Returns the message of the current `errno`, such as "Permission denied".
func systemErrorMessage() -> String {
    String(cString: strerror(errno))
}
