import Foundation

/// The mapping from the text of a feature column to an embedding-table row. Row 0 is a missing
/// value (empty field, no joined row) and, for `vocabulary` only, also a value not kept in training.
public enum FeatureEncoding: String, Codable, CaseIterable, Sendable {
    /// Sorted distinct training values with count >= `minCount` get rows 1...V.
    case vocabulary
    /// Row 1 + FNV-1a-64(text) % (hashBuckets - 1); unseen values still get a row.
    case hash
    /// Numeric values bucketed by training-set quantile boundaries.
    case quantile
    /// The row's scene index + 1; the column is not read.
    case scene
}

/// One categorical feature of the model input.
public struct FeatureConfig: Codable, Equatable, Sendable {
    /// Unique feature name, used in the schema and the report.
    public var name: String
    /// Column to read; `nil` means a column with the feature's name.
    public var column: String?
    /// `nil` means `vocabulary`.
    public var encoding: FeatureEncoding?
    /// Table rows of a `hash` feature, row 0 included (at least 2).
    public var hashBuckets: Int?
    /// Bucket count of a `quantile` feature before duplicate boundaries are merged (at least 2).
    public var buckets: Int?
    /// Separator of a multi-value column: only the text before its first occurrence is kept, so
    /// a field that starts with the separator is missing.
    public var firstToken: String?
    /// Per-feature embedding width overriding the section's `embeddingDimension`.
    public var embeddingDimension: Int?
    /// Minimum training count for a `vocabulary` value to get its own row (default 1).
    public var minCount: Int?

    public init(name: String, column: String? = nil, encoding: FeatureEncoding? = nil,
                hashBuckets: Int? = nil, buckets: Int? = nil, firstToken: String? = nil,
                embeddingDimension: Int? = nil, minCount: Int? = nil) {
        self.name = name
        self.column = column
        self.encoding = encoding
        self.hashBuckets = hashBuckets
        self.buckets = buckets
        self.firstToken = firstToken
        self.embeddingDimension = embeddingDimension
        self.minCount = minCount
    }

    /// The column read for this feature.
    public var columnName: String { column ?? name }
    /// The encoding with its default applied.
    public var resolvedEncoding: FeatureEncoding { encoding ?? .vocabulary }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, column, encoding, hashBuckets, buckets, firstToken, embeddingDimension, minCount
    }

    public init(from decoder: Decoder) throws {
        try StrictDecoding.rejectUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        column = try container.decodeIfPresent(String.self, forKey: .column)
        if let text = try container.decodeIfPresent(String.self, forKey: .encoding) {
            guard let value = FeatureEncoding(rawValue: text) else {
                let known = FeatureEncoding.allCases.map(\.rawValue)
                var message = "unknown encoding \"\(text)\"; use one of \(known.joined(separator: ", "))"
                if let suggestion = StrictDecoding.closestKey(to: text, among: known) {
                    message += " (did you mean \"\(suggestion)\"?)"
                }
                throw StrictDecoding.invalid("encoding", in: decoder, message)
            }
            encoding = value
        }
        // Row ids are Int32, so a table has at most Int32.max rows.
        hashBuckets = try container.decodeWholeNumberIfPresent(forKey: .hashBuckets, in: Int.min...Int(Int32.max),
                                                               decoder: decoder)
        buckets = try container.decodeWholeNumberIfPresent(forKey: .buckets, in: Int.min...1_000_000, decoder: decoder)
        firstToken = try container.decodeIfPresent(String.self, forKey: .firstToken)
        embeddingDimension = try container.decodeWholeNumberIfPresent(forKey: .embeddingDimension, decoder: decoder)
        minCount = try container.decodeWholeNumberIfPresent(forKey: .minCount, decoder: decoder)
        try validate(decoder)
    }

    private func validate(_ decoder: Decoder) throws {
        let kind = resolvedEncoding
        if name.isEmpty {
            throw StrictDecoding.invalid("name", in: decoder, "the feature name is empty")
        }
        if kind == .hash {
            guard let hashBuckets else {
                throw StrictDecoding.invalid("hashBuckets", in: decoder, "a hash feature needs hashBuckets (at least 2)")
            }
            if hashBuckets < 2 {
                throw StrictDecoding.invalid("hashBuckets", in: decoder, "must be at least 2, got \(hashBuckets)")
            }
        } else if hashBuckets != nil {
            throw StrictDecoding.invalid("hashBuckets", in: decoder, "only allowed with encoding \"hash\"")
        }
        if kind == .quantile {
            guard let buckets else {
                throw StrictDecoding.invalid("buckets", in: decoder, "a quantile feature needs buckets (at least 2)")
            }
            if buckets < 2 {
                throw StrictDecoding.invalid("buckets", in: decoder, "must be at least 2, got \(buckets)")
            }
        } else if buckets != nil {
            throw StrictDecoding.invalid("buckets", in: decoder, "only allowed with encoding \"quantile\"")
        }
        if let minCount {
            if kind != .vocabulary {
                throw StrictDecoding.invalid("minCount", in: decoder, "only allowed with encoding \"vocabulary\"")
            }
            if minCount < 1 {
                throw StrictDecoding.invalid("minCount", in: decoder, "must be at least 1, got \(minCount)")
            }
        }
        if let firstToken, firstToken.isEmpty {
            throw StrictDecoding.invalid("firstToken", in: decoder, "the separator is empty")
        }
        if let embeddingDimension, embeddingDimension < 1 {
            throw StrictDecoding.invalid("embeddingDimension", in: decoder,
                                         "must be at least 1, got \(embeddingDimension)")
        }
    }
}
