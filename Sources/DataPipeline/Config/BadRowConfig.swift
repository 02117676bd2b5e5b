/// A kind of bad input row, named as in the `data.errors` config section.
public enum BadRowKind: String, CaseIterable, Codable, Sendable {
    /// A row with fewer or more fields than the header.
    case fieldCount
    /// A quoted field that never closes, a quote inside an unquoted field, or text after a
    /// closing quote.
    case unbalancedQuote
    /// A row longer than `maxLineBytes`.
    case lineTooLong
    /// A field that is not valid UTF-8.
    case invalidUTF8
    /// A task label that is not 0 or 1.
    case invalidLabel
    /// Text, NaN, an infinity or an empty value in the split column, or text, NaN or an infinity
    /// in a quantile feature's column.
    case invalidNumber
    /// A log row whose join key has no row in the side table.
    case missingJoinKey
    /// A log row whose scene value is not in `data.scene.values`.
    case unknownScene
}

/// The action the data preparation takes on a bad row.
public enum BadRowPolicy: String, Codable, Sendable {
    /// Stop the preparation with an error naming the file, line, column and value.
    case stop
    /// Leave the row out and count it.
    case skip
    /// Keep the row; only `missingJoinKey` allows it, and the side table's features are missing.
    case keep
}

/// The `data.errors` section: a policy per kind of bad row, the row length limit and the share
/// of skipped rows at which the preparation stops.
///
/// Every key is optional. `missingJoinKey` defaults to `keep` and `unknownScene` to `skip`
/// (the scene filter), every other kind to `stop`.
public struct BadRowConfig: Codable, Equatable, Sendable {
    public var fieldCount: BadRowPolicy = .stop
    public var unbalancedQuote: BadRowPolicy = .stop
    public var lineTooLong: BadRowPolicy = .stop
    public var invalidUTF8: BadRowPolicy = .stop
    public var invalidLabel: BadRowPolicy = .stop
    public var invalidNumber: BadRowPolicy = .stop
    public var missingJoinKey: BadRowPolicy = .keep
    public var unknownScene: BadRowPolicy = .skip
    /// The longest row accepted, in bytes without its line break; a quoted field's line breaks
    /// count.
    public var maxLineBytes: Int = 1 << 20
    /// The largest share of a file's rows that may be skipped, from 0 to 1; rows dropped by the
    /// scene filter do not count.
    public var maxSkippedShare: Double = 0.01

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case fieldCount, unbalancedQuote, lineTooLong, invalidUTF8, invalidLabel, invalidNumber
        case missingJoinKey, unknownScene, maxLineBytes, maxSkippedShare
    }

    public init(from decoder: Decoder) throws {
        try StrictDecoding.rejectUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        for kind in BadRowKind.allCases {
            let key = CodingKeys(rawValue: kind.rawValue)!
            guard let text = try container.decodeIfPresent(String.self, forKey: key) else { continue }
            let allowed = Self.allowedPolicies(kind)
            guard let policy = BadRowPolicy(rawValue: text), allowed.contains(policy) else {
                let names = allowed.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")
                throw StrictDecoding.invalid(kind.rawValue, in: decoder, "must be \(names), got \"\(text)\"")
            }
            self[kind] = policy
        }
        if let bytes = try container.decodeWholeNumberIfPresent(forKey: .maxLineBytes, in: 1...Int(Int32.max),
                                                                 decoder: decoder) {
            maxLineBytes = bytes
        }
        if let share = try container.decodeIfPresent(Double.self, forKey: .maxSkippedShare) {
            guard share >= 0, share <= 1 else {
                throw StrictDecoding.invalid("maxSkippedShare", in: decoder, "must be from 0 to 1, got \(share)")
            }
            maxSkippedShare = share
        }
    }

    /// Returns the policies a kind accepts: `keep` only for `missingJoinKey`.
    public static func allowedPolicies(_ kind: BadRowKind) -> [BadRowPolicy] {
        kind == .missingJoinKey ? [.stop, .skip, .keep] : [.stop, .skip]
    }

    /// Accesses the policy of one kind.
    public subscript(kind: BadRowKind) -> BadRowPolicy {
        get {
            switch kind {
            case .fieldCount: return fieldCount
            case .unbalancedQuote: return unbalancedQuote
            case .lineTooLong: return lineTooLong
            case .invalidUTF8: return invalidUTF8
            case .invalidLabel: return invalidLabel
            case .invalidNumber: return invalidNumber
            case .missingJoinKey: return missingJoinKey
            case .unknownScene: return unknownScene
            }
        }
        set {
            precondition(Self.allowedPolicies(kind).contains(newValue),
                         "policy \(newValue.rawValue) is not allowed for \(kind.rawValue)")
            switch kind {
            case .fieldCount: fieldCount = newValue
            case .unbalancedQuote: unbalancedQuote = newValue
            case .lineTooLong: lineTooLong = newValue
            case .invalidUTF8: invalidUTF8 = newValue
            case .invalidLabel: invalidLabel = newValue
            case .invalidNumber: invalidNumber = newValue
            case .missingJoinKey: missingJoinKey = newValue
            case .unknownScene: unknownScene = newValue
            }
        }
    }
}

/// Rows left out per kind of problem. `unknownScene` repeats the scene filter's count and is
/// not part of `total`, because dropping other scenes is the filter's purpose, not bad input.
public struct BadRowCounts: Codable, Equatable, Sendable {
    public var fieldCount = 0
    public var unbalancedQuote = 0
    public var lineTooLong = 0
    public var invalidUTF8 = 0
    public var invalidLabel = 0
    public var invalidNumber = 0
    public var missingJoinKey = 0
    public var unknownScene = 0

    public init() {}

    public subscript(kind: BadRowKind) -> Int {
        get {
            switch kind {
            case .fieldCount: return fieldCount
            case .unbalancedQuote: return unbalancedQuote
            case .lineTooLong: return lineTooLong
            case .invalidUTF8: return invalidUTF8
            case .invalidLabel: return invalidLabel
            case .invalidNumber: return invalidNumber
            case .missingJoinKey: return missingJoinKey
            case .unknownScene: return unknownScene
            }
        }
        set {
            switch kind {
            case .fieldCount: fieldCount = newValue
            case .unbalancedQuote: unbalancedQuote = newValue
            case .lineTooLong: lineTooLong = newValue
            case .invalidUTF8: invalidUTF8 = newValue
            case .invalidLabel: invalidLabel = newValue
            case .invalidNumber: invalidNumber = newValue
            case .missingJoinKey: missingJoinKey = newValue
            case .unknownScene: unknownScene = newValue
            }
        }
    }

    /// Skipped rows that count against `maxSkippedShare`: every kind but `unknownScene`.
    public var total: Int {
        BadRowKind.allCases.reduce(0) { $0 + ($1 == .unknownScene ? 0 : self[$1]) }
    }

    /// The nonzero counts as `kind: count` joined by commas, for messages.
    public var summary: String {
        BadRowKind.allCases.filter { self[$0] > 0 }.map { "\($0.rawValue): \(self[$0])" }.joined(separator: ", ")
    }
}
