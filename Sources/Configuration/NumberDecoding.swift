import Foundation

/// Number decoding that keeps the key path in its errors.
///
/// Foundation's JSONDecoder on Linux reports a number that does not fit the target type (a
/// negative value for an unsigned field, 1024.5 for an integer, 1e40 for a Float) as "The given
/// data was not valid JSON." with no key. These helpers decode a Double and check it themselves.
extension KeyedDecodingContainer {
    /// Decodes a whole number in `range`, or returns nil when the key is absent.
    public func decodeWholeNumberIfPresent(forKey key: Key, in range: ClosedRange<Int> = Int.min...Int.max,
                                           decoder: Decoder) throws -> Int? {
        guard contains(key) else { return nil }
        let value = try decode(Double.self, forKey: key)
        guard value == value.rounded(), abs(value) < 9e15 else {
            throw StrictDecoding.invalid(key.stringValue, in: decoder, "must be a whole number, got \(value)")
        }
        guard range.contains(Int(value)) else {
            throw StrictDecoding.invalid(key.stringValue, in: decoder, Self.rangeMessage(Int(value), range))
        }
        return Int(value)
    }

    /// Decodes a required whole number in `range`.
    public func decodeWholeNumber(forKey key: Key, in range: ClosedRange<Int> = Int.min...Int.max,
                                  decoder: Decoder) throws -> Int {
        guard let value = try decodeWholeNumberIfPresent(forKey: key, in: range, decoder: decoder) else {
            throw ConfigError(keyPath: StrictDecoding.keyPath(decoder.codingPath + [key]),
                              message: "missing required key \"\(key.stringValue)\"")
        }
        return value
    }

    /// Decodes a finite number that fits a Float, or returns nil when the key is absent.
    public func decodeFloatIfPresent(forKey key: Key, decoder: Decoder) throws -> Float? {
        guard contains(key) else { return nil }
        let value = try decode(Double.self, forKey: key)
        guard value.isFinite, abs(value) <= Double(Float.greatestFiniteMagnitude) else {
            throw StrictDecoding.invalid(key.stringValue, in: decoder, "must be a finite number within Float range, got \(value)")
        }
        return Float(value)
    }

    private static func rangeMessage(_ value: Int, _ range: ClosedRange<Int>) -> String {
        if range.upperBound == Int.max {
            return "must be at least \(range.lowerBound), got \(value)"
        }
        if range.lowerBound == Int.min {
            return "must be at most \(range.upperBound), got \(value)"
        }
        return "must be from \(range.lowerBound) to \(range.upperBound), got \(value)"
    }
}

extension StrictDecoding {
    /// Describes a JSON syntax error with its line and column, which JSONDecoder on Linux omits.
    static func syntaxError(in data: Data) -> ConfigError? {
        do {
            _ = try JSONSerialization.jsonObject(with: data)
            return nil
        } catch {
            let text = "\((error as NSError).userInfo[NSDebugDescriptionErrorKey] ?? error.localizedDescription)"
            if data.isEmpty {
                return ConfigError(keyPath: "", message: "the file is empty; expected a JSON object")
            }
            guard let range = text.range(of: #"character \d+"#, options: .regularExpression),
                  let offset = Int(text[range].dropFirst("character ".count)) else {
                return ConfigError(keyPath: "", message: "not valid JSON: \(text)")
            }
            var line = 1
            var column = 1
            for byte in data.prefix(offset) {
                if byte == UInt8(ascii: "\n") {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
            }
            return ConfigError(keyPath: "", message: "not valid JSON at line \(line), column \(column): \(text)")
        }
    }
}
