/// Shared wording for messages about bad rows: what to do, and a short printable excerpt of
/// the offending value.
enum BadRowHint {
    /// The longest excerpt of a value shown in a message, in characters.
    static let maxExcerptCharacters = 60

    /// Returns the advice that ends a "stop" message for `kind`.
    static func text(_ kind: BadRowKind) -> String {
        "fix the row or set data.errors.\(kind.rawValue) to \"skip\""
    }

    /// Returns the start of `bytes` as one line of text: invalid UTF-8 becomes U+FFFD, line
    /// breaks and tabs are escaped, and "..." marks a cut.
    static func excerpt<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        excerpt(String(decoding: bytes.prefix(maxExcerptCharacters * 4), as: UTF8.self),
                cut: bytes.count > maxExcerptCharacters * 4)
    }

    /// Returns the start of `text` as one line, as `excerpt(_:)` does for bytes.
    static func excerpt(_ text: String, cut: Bool = false) -> String {
        var result = ""
        var characters = 0
        for scalar in text.unicodeScalars {
            if characters == maxExcerptCharacters { return result + "..." }
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default: result.unicodeScalars.append(scalar)
            }
            characters += 1
        }
        return cut ? result + "..." : result
    }
}
