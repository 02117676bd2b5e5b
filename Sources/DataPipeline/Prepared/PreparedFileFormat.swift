import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Layout of a prepared dataset file. All integers are little-endian, native on the x86-64 and
/// arm64 machines this runs on.
///
///     offset  bytes  field
///          0      8  magic "MSCTRDS\0"
///          8      4  format version
///         12      4  header bytes (256)
///         16      8  file bytes, to detect truncation
///         24      8  checksum of bytes 32 ..< file bytes
///         32      8  fingerprint of the config and input files
///         40      8  metadata offset   (JSON of the schema and the report)
///         48      8  metadata bytes
///         56      8  features per row F
///         64      8  tasks per row T
///         72     48  train: row count N, then offsets of features, labels, scenes, users, rowIndices
///        120     48  test: the same
///
/// Sections follow the header, each starting at a multiple of 64 bytes so the mapped arrays are
/// aligned for any element type and for cache lines.
enum PreparedFileFormat {
    static let magic: [UInt8] = Array("MSCTRDS\0".utf8)
    static let version: UInt32 = 2
    static let headerBytes = 256
    static let sectionAlignment = 64
    static let checksumStart = 32

    /// Field offsets inside the header.
    enum Offset {
        static let version = 8
        static let headerBytes = 12
        static let fileBytes = 16
        static let checksum = 24
        static let fingerprint = 32
        static let metadataOffset = 40
        static let metadataBytes = 48
        static let featureCount = 56
        static let taskCount = 64
        static let train = 72
        static let test = 120
    }

    /// The schema and report stored as JSON in the file.
    struct Metadata: Codable {
        var schema: DatasetSchema
        var report: PreparationReport
    }

    /// Returns a 64-bit checksum of `bytes`, reading 8-byte words; it detects corruption, not
    /// tampering.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        let words = bytes.count / 8
        for index in 0..<words {
            let word = bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)
            hash = (hash ^ (word &* 0xFF51_AFD7_ED55_8CCD))
            hash = ((hash << 27) | (hash >> 37)) &* 0xC4CE_B9FE_1A85_EC53
        }
        for index in (words * 8)..<bytes.count {
            hash = (hash ^ UInt64(bytes[index])) &* StableHash.prime
        }
        return hash ^ (hash >> 29)
    }

    static func aligned(_ offset: Int) -> Int {
        (offset + sectionAlignment - 1) / sectionAlignment * sectionAlignment
    }

    /// Encodes `dataset` in this format.
    static func encode(_ dataset: EncodedDataset, fingerprint: UInt64) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let metadata = Array(try encoder.encode(Metadata(schema: dataset.schema, report: dataset.report)))

        // Section offsets are laid out first so the file is allocated once, at its final size,
        // and zero-filled where the alignment leaves gaps.
        var end = headerBytes + metadata.count
        var splitFields: [[UInt64]] = []
        for split in [dataset.train, dataset.test] {
            var fields = [UInt64(split.count)]
            let sectionBytes = [split.features.count * 4, split.labels.count * 4, split.scenes.count * 4,
                                split.users.count * 8, split.rowIndices.count * 8]
            for bytes in sectionBytes {
                let offset = aligned(end)
                fields.append(UInt64(offset))
                end = offset + bytes
            }
            splitFields.append(fields)
        }

        var file = [UInt8](repeating: 0, count: end)
        file.withUnsafeMutableBytes { file in
            metadata.withUnsafeBytes { source in
                (file.baseAddress! + headerBytes).copyMemory(from: source.baseAddress!, byteCount: source.count)
            }
            for (split, fields) in zip([dataset.train, dataset.test], splitFields) {
                copySection(split.features, to: file, at: Int(fields[1]))
                copySection(split.labels, to: file, at: Int(fields[2]))
                copySection(split.scenes, to: file, at: Int(fields[3]))
                copySection(split.users, to: file, at: Int(fields[4]))
                copySection(split.rowIndices, to: file, at: Int(fields[5]))
            }
        }

        for (index, byte) in magic.enumerated() { file[index] = byte }
        store(UInt32(version), at: Offset.version, in: &file)
        store(UInt32(headerBytes), at: Offset.headerBytes, in: &file)
        store(UInt64(file.count), at: Offset.fileBytes, in: &file)
        store(fingerprint, at: Offset.fingerprint, in: &file)
        store(UInt64(headerBytes), at: Offset.metadataOffset, in: &file)
        store(UInt64(metadata.count), at: Offset.metadataBytes, in: &file)
        store(UInt64(dataset.schema.featureCount), at: Offset.featureCount, in: &file)
        store(UInt64(dataset.schema.taskCount), at: Offset.taskCount, in: &file)
        for (splitIndex, start) in [Offset.train, Offset.test].enumerated() {
            for (field, value) in splitFields[splitIndex].enumerated() {
                store(value, at: start + field * 8, in: &file)
            }
        }
        let sum = file.withUnsafeBytes { checksum(UnsafeRawBufferPointer(rebasing: $0[checksumStart...])) }
        store(sum, at: Offset.checksum, in: &file)
        return file
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same folder is written,
    /// flushed to disk with fsync and renamed over `path`.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let temporary = "\(path).tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else {
            throw DataError.fileAccess(path: temporary, reason: "cannot create the file: \(String(cString: strerror(errno)))")
        }
        var written = 0
        let writeError: Int32? = bytes.withUnsafeBytes { buffer in
            while written < buffer.count {
                let result = write(descriptor, buffer.baseAddress! + written, buffer.count - written)
                if result < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                written += result
            }
            return fsync(descriptor) == 0 ? nil : errno
        }
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

    private static func copySection<T>(_ values: [T], to file: UnsafeMutableRawBufferPointer, at offset: Int) {
        values.withUnsafeBytes { source in
            guard let base = source.baseAddress, source.count > 0 else { return }
            precondition(offset + source.count <= file.count,
                         "section of \(source.count) bytes at \(offset) does not fit a \(file.count)-byte file")
            (file.baseAddress! + offset).copyMemory(from: base, byteCount: source.count)
        }
    }

    private static func store<T: FixedWidthInteger>(_ value: T, at offset: Int, in file: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { source in
            for (index, byte) in source.enumerated() { file[offset + index] = byte }
        }
    }
}
