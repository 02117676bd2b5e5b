import Foundation

/// A flat binary file of named Float32 arrays plus the global loss of every step, written by
/// rank 0 after training for debugging and for comparing runs across world sizes.
///
/// Layout (little-endian): magic `TRPD`, version UInt32, array count UInt32; per array the name
/// length UInt32, UTF-8 name, element count UInt64 and the elements; then step count UInt64,
/// task count UInt32 and the step losses `[steps, T]` as Float64.
public struct ParameterDump: Equatable, Sendable {
    public static let magic: [UInt8] = Array("TRPD".utf8)
    public static let version: UInt32 = 1

    /// Arrays in a fixed order: dense parameters, then `embedding.<feature>` tables, then the
    /// model's `buffer.<name>` buffers (running statistics, averaged over ranks).
    public var arrays: [(name: String, values: [Float])]
    /// `[steps][T]`.
    public var stepLosses: [[Double]]

    public init(arrays: [(name: String, values: [Float])], stepLosses: [[Double]]) {
        self.arrays = arrays
        self.stepLosses = stepLosses
    }

    public static func == (lhs: ParameterDump, rhs: ParameterDump) -> Bool {
        lhs.arrays.map(\.name) == rhs.arrays.map(\.name) && lhs.arrays.map(\.values) == rhs.arrays.map(\.values)
            && lhs.stepLosses == rhs.stepLosses
    }

    public func write(to path: String) throws {
        var bytes = Self.magic
        func append<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        append(Self.version)
        append(UInt32(arrays.count))
        for (name, values) in arrays {
            let utf8 = Array(name.utf8)
            append(UInt32(utf8.count))
            bytes.append(contentsOf: utf8)
            append(UInt64(values.count))
            for value in values { append(value.bitPattern) }
        }
        append(UInt64(stepLosses.count))
        append(UInt32(stepLosses.first?.count ?? 0))
        for losses in stepLosses {
            for loss in losses { append(loss.bitPattern) }
        }
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ParameterDumpError(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }

    public static func read(from path: String) throws -> ParameterDump {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ParameterDumpError(path: path, reason: "cannot read the file")
        }
        let bytes = [UInt8](data)
        var offset = 0
        func take<T: FixedWidthInteger>(_: T.Type) throws -> T {
            let size = MemoryLayout<T>.size
            guard offset + size <= bytes.count else {
                throw ParameterDumpError(path: path, reason: "truncated at byte \(offset)")
            }
            var value: T = 0
            withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes[offset..<(offset + size)]) }
            offset += size
            return T(littleEndian: value)
        }
        guard bytes.count >= 4, Array(bytes[0..<4]) == magic else {
            throw ParameterDumpError(path: path, reason: "not a parameter dump (bad magic)")
        }
        offset = 4
        let version = try take(UInt32.self)
        guard version == Self.version else {
            throw ParameterDumpError(path: path, reason: "format version \(version), expected \(Self.version)")
        }
        var arrays: [(name: String, values: [Float])] = []
        for _ in 0..<Int(try take(UInt32.self)) {
            let nameLength = Int(try take(UInt32.self))
            guard offset + nameLength <= bytes.count else {
                throw ParameterDumpError(path: path, reason: "truncated at byte \(offset)")
            }
            let name = String(decoding: bytes[offset..<(offset + nameLength)], as: UTF8.self)
            offset += nameLength
            let count = Int(try take(UInt64.self))
            var values = [Float](repeating: 0, count: count)
            for i in 0..<count { values[i] = Float(bitPattern: try take(UInt32.self)) }
            arrays.append((name, values))
        }
        let steps = Int(try take(UInt64.self))
        let tasks = Int(try take(UInt32.self))
        var stepLosses: [[Double]] = []
        for _ in 0..<steps {
            stepLosses.append(try (0..<tasks).map { _ in Double(bitPattern: try take(UInt64.self)) })
        }
        return ParameterDump(arrays: arrays, stepLosses: stepLosses)
    }
}

public struct ParameterDumpError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "parameter dump \(path): \(reason)" }
}
