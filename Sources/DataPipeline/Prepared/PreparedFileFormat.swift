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

    /// Where everything of a dataset goes in its file: the header and metadata bytes (checksum
    /// field still 0), the section offsets of both splits and the file size.
    struct Layout {
        var head: [UInt8]
        /// Row count, then the offsets of features, labels, scenes, users and row indices, per split.
        var splitFields: [[UInt64]]
        var fileBytes: Int

        /// Calls `body` with the file offset and bytes of every non-empty section, in file order.
        func forEachSection(of dataset: EncodedDataset, _ body: (Int, UnsafeRawBufferPointer) throws -> Void) rethrows {
            for (split, fields) in zip([dataset.train, dataset.test], splitFields) {
                try split.features.withUnsafeBytes { try body(Int(fields[1]), $0) }
                try split.labels.withUnsafeBytes { try body(Int(fields[2]), $0) }
                try split.scenes.withUnsafeBytes { try body(Int(fields[3]), $0) }
                try split.users.withUnsafeBytes { try body(Int(fields[4]), $0) }
                try split.rowIndices.withUnsafeBytes { try body(Int(fields[5]), $0) }
            }
        }
    }

    static func layout(_ dataset: EncodedDataset, fingerprint: UInt64) throws -> Layout {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let metadata = Array(try encoder.encode(Metadata(schema: dataset.schema, report: dataset.report)))

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

        var head = [UInt8](repeating: 0, count: headerBytes)
        head.append(contentsOf: metadata)
        for (index, byte) in magic.enumerated() { head[index] = byte }
        store(UInt32(version), at: Offset.version, in: &head)
        store(UInt32(headerBytes), at: Offset.headerBytes, in: &head)
        store(UInt64(end), at: Offset.fileBytes, in: &head)
        store(fingerprint, at: Offset.fingerprint, in: &head)
        store(UInt64(headerBytes), at: Offset.metadataOffset, in: &head)
        store(UInt64(metadata.count), at: Offset.metadataBytes, in: &head)
        store(UInt64(dataset.schema.featureCount), at: Offset.featureCount, in: &head)
        store(UInt64(dataset.schema.taskCount), at: Offset.taskCount, in: &head)
        for (splitIndex, start) in [Offset.train, Offset.test].enumerated() {
            for (field, value) in splitFields[splitIndex].enumerated() {
                store(value, at: start + field * 8, in: &head)
            }
        }
        return Layout(head: head, splitFields: splitFields, fileBytes: end)
    }

    /// Encodes `dataset` in this format.
    static func encode(_ dataset: EncodedDataset, fingerprint: UInt64) throws -> [UInt8] {
        let layout = try layout(dataset, fingerprint: fingerprint)
        // The file is allocated once, at its final size, and zero-filled where the alignment
        // leaves gaps.
        var file = [UInt8](repeating: 0, count: layout.fileBytes)
        file.withUnsafeMutableBytes { file in
            layout.head.withUnsafeBytes { file.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            layout.forEachSection(of: dataset) { offset, section in
                guard let base = section.baseAddress, section.count > 0 else { return }
                precondition(offset + section.count <= file.count,
                             "section of \(section.count) bytes at \(offset) does not fit a \(file.count)-byte file")
                (file.baseAddress! + offset).copyMemory(from: base, byteCount: section.count)
            }
        }
        let sum = file.withUnsafeBytes { checksum(UnsafeRawBufferPointer(rebasing: $0[checksumStart...])) }
        store(sum, at: Offset.checksum, in: &file)
        return file
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same folder is written,
    /// flushed to disk with fsync and renamed over `path`.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        try AtomicFileWrite.write(to: path, fileBytes: bytes.count) { descriptor in
            bytes.withUnsafeBytes { AtomicFileWrite.writeFully(descriptor, $0, at: 0) }
        }
    }

    /// Writes `dataset` as a prepared file at `path` atomically, like `writeAtomically(_:to:)`,
    /// straight from its arrays, so the file is never assembled in memory.
    ///
    /// The checksum and the writes of the sections read the same arrays and need each other
    /// only at the end, so they run concurrently on two threads. The header, which contains the
    /// checksum, is written last, and the file is valid only after the fsync and rename.
    static func writeAtomically(_ dataset: EncodedDataset, fingerprint: UInt64, to path: String) throws {
        let layout = try layout(dataset, fingerprint: fingerprint)
        try AtomicFileWrite.write(to: path, fileBytes: layout.fileBytes) { descriptor in
            let (sum, sectionFailure) = ParallelWork.concurrently({
                checksum(of: dataset, layout: layout)
            }, {
                // Gaps between sections are left unwritten and read as zeros.
                var failure: Int32?
                layout.forEachSection(of: dataset) { offset, section in
                    if failure == nil { failure = AtomicFileWrite.writeFully(descriptor, section, at: offset) }
                }
                return failure
            })
            if let sectionFailure { return sectionFailure }
            var head = layout.head
            store(sum, at: Offset.checksum, in: &head)
            return head.withUnsafeBytes { AtomicFileWrite.writeFully(descriptor, $0, at: 0) }
        }
    }

    /// Returns the checksum of the file that `layout` describes for `dataset`, computed over
    /// its pieces: the header and metadata (checksum field 0), the sections and the zero gaps.
    static func checksum(of dataset: EncodedDataset, layout: Layout) -> UInt64 {
        var sum = StreamingChecksum(totalBytes: layout.fileBytes - checksumStart)
        layout.head.withUnsafeBytes { sum.add(UnsafeRawBufferPointer(rebasing: $0[checksumStart...])) }
        var position = layout.head.count
        layout.forEachSection(of: dataset) { offset, section in
            sum.addZeros(offset - position)
            sum.add(section)
            position = offset + section.count
        }
        sum.addZeros(layout.fileBytes - position)
        return sum.finish()
    }

    private static func store<T: FixedWidthInteger>(_ value: T, at offset: Int, in file: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { source in
            for (index, byte) in source.enumerated() { file[offset + index] = byte }
        }
    }
}
