import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A read-only memory mapping of a whole file, unmapped when the last reference goes away.
///
/// It is `@unchecked Sendable` because the mapping is created read-only in `init` and never
/// written, so any thread may read it. It is unmapped only in `deinit`, when no reference remains.
final class MappedFile: @unchecked Sendable {
    let path: String
    let bytes: UnsafeRawBufferPointer

    init(path: String) throws {
        self.path = path
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            throw DataError.fileAccess(path: path, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }

        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw DataError.fileAccess(path: path, reason: "cannot stat: \(String(cString: strerror(errno)))")
        }
        let size = Int(status.st_size)
        guard size >= PreparedFileFormat.headerBytes else {
            throw DataError.invalidPreparedFile(
                path: path, reason: "the file has \(size) bytes, fewer than the \(PreparedFileFormat.headerBytes)-byte header")
        }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), address != MAP_FAILED else {
            throw DataError.fileAccess(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count)
    }
}

/// One split of a prepared dataset: buffers that point into the file mapping, N rows.
///
/// The view keeps the mapping alive, so its buffers stay valid as long as the view (or a copy)
/// exists. `@unchecked Sendable` because the buffers point into a read-only mapping that is never
/// written.
public struct PreparedSplit: @unchecked Sendable {
    /// Number of rows N.
    public let count: Int
    /// Features per row F.
    public let featureCount: Int
    /// Tasks per row T.
    public let taskCount: Int
    /// Embedding-table rows, row-major `[N, F]`.
    public let features: UnsafeBufferPointer<Int32>
    /// Labels 0 or 1, row-major `[N, T]`.
    public let labels: UnsafeBufferPointer<Float>
    /// Scene index 0 ..< S, `[N]`.
    public let scenes: UnsafeBufferPointer<Int32>
    /// User id for GAUC grouping, `[N]`; see `EncodedSplit.users`.
    public let users: UnsafeBufferPointer<Int64>
    /// 0-based data row of the log file, `[N]`.
    public let rowIndices: UnsafeBufferPointer<Int64>
    let mapping: MappedFile

    /// Returns the F feature rows of row `i`, `[F]`.
    public func featureRow(_ i: Int) -> UnsafeBufferPointer<Int32> {
        precondition(i >= 0 && i < count, "row \(i) out of range 0..<\(count)")
        return UnsafeBufferPointer(rebasing: features[(i * featureCount)..<((i + 1) * featureCount)])
    }

    /// Returns the T labels of row `i`, `[T]`.
    public func labelRow(_ i: Int) -> UnsafeBufferPointer<Float> {
        precondition(i >= 0 && i < count, "row \(i) out of range 0..<\(count)")
        return UnsafeBufferPointer(rebasing: labels[(i * taskCount)..<((i + 1) * taskCount)])
    }

    /// Copies the split into arrays.
    public func toEncodedSplit() -> EncodedSplit {
        EncodedSplit(count: count, features: Array(features), labels: Array(labels), scenes: Array(scenes),
                     users: Array(users), rowIndices: Array(rowIndices))
    }
}

/// A prepared dataset file opened with a read-only memory mapping: schema, build report and the
/// train and test splits, without copying the arrays.
public final class PreparedDataset: @unchecked Sendable {
    // `@unchecked Sendable`: every stored property is immutable after `open`, and the mapping
    // is read-only.
    public let path: String
    public let schema: DatasetSchema
    public let report: PreparationReport
    /// Fingerprint of the config and input files the file was built from.
    public let fingerprint: UInt64
    public let train: PreparedSplit
    public let test: PreparedSplit

    private init(path: String, schema: DatasetSchema, report: PreparationReport, fingerprint: UInt64,
                 train: PreparedSplit, test: PreparedSplit) {
        self.path = path
        self.schema = schema
        self.report = report
        self.fingerprint = fingerprint
        self.train = train
        self.test = test
    }

    /// Maps and validates the file at `path`. A truncated or corrupt file, or one of another
    /// format version, throws `DataError.invalidPreparedFile` naming the file.
    public static func open(path: String) throws -> PreparedDataset {
        let mapping = try MappedFile(path: path)
        let bytes = mapping.bytes
        func invalid(_ reason: String) -> DataError { .invalidPreparedFile(path: path, reason: reason) }
        func unsigned(_ offset: Int) -> UInt64 {
            UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }
        // Counts and offsets of a file that passed the checksum fit in Int. The truncating
        // conversion only keeps a corrupt header from trapping before the range checks reject it.
        func word(_ offset: Int) -> Int { Int(truncatingIfNeeded: unsigned(offset)) }

        guard Array(bytes[0..<8]) == PreparedFileFormat.magic else {
            throw invalid("the file does not start with the prepared-data magic bytes")
        }
        let version = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: PreparedFileFormat.Offset.version, as: UInt32.self))
        guard version == PreparedFileFormat.version else {
            throw invalid("format version \(version), expected \(PreparedFileFormat.version)")
        }
        let declaredBytes = word(PreparedFileFormat.Offset.fileBytes)
        guard declaredBytes == bytes.count else {
            throw invalid("the header declares \(declaredBytes) bytes but the file has \(bytes.count) (truncated or appended to)")
        }
        let storedChecksum = unsigned(PreparedFileFormat.Offset.checksum)
        let actualChecksum = PreparedFileFormat.checksum(UnsafeRawBufferPointer(rebasing: bytes[PreparedFileFormat.checksumStart...]))
        guard storedChecksum == actualChecksum else {
            throw invalid("checksum mismatch, the contents are corrupt")
        }

        let metadataOffset = word(PreparedFileFormat.Offset.metadataOffset)
        let metadataBytes = word(PreparedFileFormat.Offset.metadataBytes)
        guard metadataOffset >= PreparedFileFormat.headerBytes, metadataBytes >= 0,
              metadataOffset + metadataBytes <= bytes.count else {
            throw invalid("metadata range \(metadataOffset) + \(metadataBytes) lies outside the file")
        }
        let metadata: PreparedFileFormat.Metadata
        do {
            metadata = try JSONDecoder().decode(PreparedFileFormat.Metadata.self,
                                                from: Data(bytes[metadataOffset..<(metadataOffset + metadataBytes)]))
        } catch {
            throw invalid("the schema JSON cannot be decoded: \(error)")
        }

        let featureCount = word(PreparedFileFormat.Offset.featureCount)
        let taskCount = word(PreparedFileFormat.Offset.taskCount)
        guard featureCount == metadata.schema.featureCount, taskCount == metadata.schema.taskCount else {
            throw invalid("header has F=\(featureCount), T=\(taskCount) but the schema has "
                          + "F=\(metadata.schema.featureCount), T=\(metadata.schema.taskCount)")
        }

        func split(at start: Int, name: String) throws -> PreparedSplit {
            let count = word(start)
            let offsets = (1...5).map { word(start + $0 * 8) }
            let widths = [featureCount * 4, taskCount * 4, 4, 8, 8]
            for (offset, width) in zip(offsets, widths) {
                guard count >= 0, count <= bytes.count, offset % PreparedFileFormat.sectionAlignment == 0,
                      offset >= metadataOffset + metadataBytes, offset <= bytes.count,
                      count * width <= bytes.count - offset else {
                    throw invalid("\(name) section at offset \(offset) with \(count) rows lies outside the file or is misaligned")
                }
            }
            func buffer<T>(_ index: Int, _ type: T.Type, _ elements: Int) -> UnsafeBufferPointer<T> {
                UnsafeBufferPointer(start: (bytes.baseAddress! + offsets[index]).assumingMemoryBound(to: T.self), count: elements)
            }
            return PreparedSplit(count: count, featureCount: featureCount, taskCount: taskCount,
                                 features: buffer(0, Int32.self, count * featureCount),
                                 labels: buffer(1, Float.self, count * taskCount),
                                 scenes: buffer(2, Int32.self, count), users: buffer(3, Int64.self, count),
                                 rowIndices: buffer(4, Int64.self, count), mapping: mapping)
        }

        return PreparedDataset(path: path, schema: metadata.schema, report: metadata.report,
                               fingerprint: unsigned(PreparedFileFormat.Offset.fingerprint),
                               train: try split(at: PreparedFileFormat.Offset.train, name: "train"),
                               test: try split(at: PreparedFileFormat.Offset.test, name: "test"))
    }
}
