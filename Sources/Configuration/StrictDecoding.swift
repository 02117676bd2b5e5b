import Foundation

/// An invalid configuration value, with the JSON key path where it sits, such as
/// `data.features[3].hashBuckets`.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    /// Dotted key path with array indices in brackets; empty for the document root.
    public var keyPath: String
    /// What is wrong and what to do about it.
    public var message: String

    public init(keyPath: String, message: String) {
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String {
        keyPath.isEmpty ? "invalid config: \(message)" : "invalid config at \(keyPath): \(message)"
    }
}

/// Strict JSON decoding for configuration types: unknown keys are rejected with the closest
/// known key as a suggestion, and decoding errors are turned into `ConfigError`s that carry the
/// key path.
///
/// A type opts in by calling `rejectUnknownKeys(in:known:)` at the start of its
/// `init(from:)`; validation of ranges uses `invalid(_:in:_:)` so the error names the key path.
public enum StrictDecoding {
    /// Decodes `type` from JSON `data`, converting every `DecodingError` into a `ConfigError`.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        if let syntaxError = syntaxError(in: data) {
            throw syntaxError
        }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw configError(from: error)
        }
    }

    /// Throws a `ConfigError` if the object being decoded has a key outside `known`.
    public static func rejectUnknownKeys(in decoder: Decoder, known: [String]) throws {
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        // Sorted so the reported key does not depend on dictionary order.
        for key in container.allKeys.sorted(by: { $0.stringValue < $1.stringValue })
        where !known.contains(key.stringValue) {
            var message = "unknown key \"\(key.stringValue)\""
            if let suggestion = closestKey(to: key.stringValue, among: known) {
                message += "; did you mean \"\(suggestion)\"?"
            } else {
                message += "; known keys are \(known.joined(separator: ", "))"
            }
            throw ConfigError(keyPath: keyPath(decoder.codingPath + [key]), message: message)
        }
    }

    /// Returns a `ConfigError` for `key` inside the object that `decoder` is decoding.
    public static func invalid(_ key: String, in decoder: Decoder, _ message: String) -> ConfigError {
        ConfigError(keyPath: keyPath(decoder.codingPath + [AnyCodingKey(key)]), message: message)
    }

    /// Formats a coding path as `a.b[2].c`.
    public static func keyPath(_ codingPath: [CodingKey]) -> String {
        var text = ""
        for key in codingPath {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                if !text.isEmpty { text += "." }
                text += key.stringValue
            }
        }
        return text
    }

    /// Returns the known key with the smallest edit distance to `key`, if that distance is at
    /// most half the key's length (rounded up) and at least 1 character would need to change.
    public static func closestKey(to key: String, among known: [String]) -> String? {
        let limit = max(2, (key.count + 1) / 2)
        var best: (key: String, distance: Int)?
        for candidate in known {
            let distance = editDistance(key, candidate)
            if distance <= limit, distance < (best?.distance ?? Int.max) {
                best = (candidate, distance)
            }
        }
        return best?.key
    }

    /// Levenshtein distance over Unicode scalars, comparing letters without regard to case.
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a.lowercased().unicodeScalars)
        let y = Array(b.lowercased().unicodeScalars)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }

        var previous = Array(0...y.count)
        var current = [Int](repeating: 0, count: y.count + 1)
        for i in 1...x.count {
            current[0] = i
            for j in 1...y.count {
                let substitution = previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1)
                current[j] = min(substitution, previous[j] + 1, current[j - 1] + 1)
            }
            swap(&previous, &current)
        }
        return previous[y.count]
    }

    /// Converts a `DecodingError` into a `ConfigError` with the key path and a plain message.
    public static func configError(from error: DecodingError) -> ConfigError {
        switch error {
        case .keyNotFound(let key, let context):
            return ConfigError(keyPath: keyPath(context.codingPath + [key]),
                               message: "missing required key \"\(key.stringValue)\"")
        case .typeMismatch(let type, let context):
            return ConfigError(keyPath: keyPath(context.codingPath),
                               message: "wrong type: expected \(typeName(type))")
        case .valueNotFound(let type, let context):
            return ConfigError(keyPath: keyPath(context.codingPath),
                               message: "null value: expected \(typeName(type))")
        case .dataCorrupted(let context):
            let underlying = context.underlyingError.map { ": \($0)" } ?? ""
            return ConfigError(keyPath: keyPath(context.codingPath),
                               message: "\(context.debugDescription)\(underlying)")
        @unknown default:
            return ConfigError(keyPath: "", message: "\(error)")
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type, is Int32.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is Bool.Type: return "true or false"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "an object (\(name))"
        }
    }
}

/// A coding key made from any string or integer, for reading the keys an object actually has.
public struct AnyCodingKey: CodingKey, Hashable {
    public var stringValue: String
    public var intValue: Int?

    public init(_ string: String) {
        self.stringValue = string
        self.intValue = nil
    }

    public init?(stringValue: String) {
        self.init(stringValue)
    }

    public init?(intValue: Int) {
        self.stringValue = "\(intValue)"
        self.intValue = intValue
    }
}
