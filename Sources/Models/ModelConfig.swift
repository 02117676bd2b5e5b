import Configuration

/// The `model` section of a training config: a model `name` and that model's options.
///
/// Which options exist depends on the model, so the section is read as JSON values first and each
/// model reads its own options through `ModelOptions`. A key the chosen model does not accept is
/// rejected with the closest accepted key, so a typo such as `gateGama`, or a PEPNet option given
/// to the MLP, fails before training instead of being ignored.
public struct ModelConfig: Codable, Equatable, Sendable {
    public var name: String
    /// Every key of the section except `name`, as read.
    public var options: [String: JSONValue]

    public init(name: String, options: [String: JSONValue] = [:]) {
        self.name = name
        self.options = options
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        name = try container.decode(String.self, forKey: AnyCodingKey("name"))
        var options: [String: JSONValue] = [:]
        for key in container.allKeys where key.stringValue != "name" {
            options[key.stringValue] = try container.decode(JSONValue.self, forKey: key)
        }
        self.options = options
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: AnyCodingKey.self)
        try container.encode(name, forKey: AnyCodingKey("name"))
        for (key, value) in options {
            try container.encode(value, forKey: AnyCodingKey(key))
        }
    }

    /// Builds the model named by `name` with its dense parameters initialized from `context.seed`.
    public func make(_ context: ModelContext) throws -> RankingModel {
        guard let entry = ModelRegistry.entry(named: name) else {
            throw ModelError.unknownModel(name: name, known: ModelRegistry.entries.map(\.name))
        }
        let reader = try ModelOptions(values: options, entry: entry)
        return try entry.make(reader, context)
    }
}

/// What every model is built from besides its options.
public struct ModelContext: Sendable {
    public var layout: FeatureLayout
    /// Number of tasks T, the logits per row.
    public var taskCount: Int
    /// Number of scenes S; scene indices of a batch lie in 0..<S.
    public var sceneCount: Int
    public var seed: UInt64

    public init(layout: FeatureLayout, taskCount: Int, sceneCount: Int, seed: UInt64) {
        self.layout = layout
        self.taskCount = taskCount
        self.sceneCount = sceneCount
        self.seed = seed
    }
}

/// One model the trainer can build by name, with the options it accepts.
public struct ModelEntry: Sendable {
    public let name: String
    /// One line for `trainer models`.
    public let summary: String
    /// Accepted option keys with their help text (meaning, unit and default).
    public let options: [(key: String, help: String)]
    public let make: @Sendable (ModelOptions, ModelContext) throws -> RankingModel

    public init(name: String, summary: String, options: [(key: String, help: String)],
                make: @escaping @Sendable (ModelOptions, ModelContext) throws -> RankingModel) {
        self.name = name
        self.summary = summary
        self.options = options
        self.make = make
    }
}

/// The options of one model section, read with the types the model expects. Errors name the key
/// as `model.<key>`.
public struct ModelOptions {
    let values: [String: JSONValue]

    init(values: [String: JSONValue], entry: ModelEntry) throws {
        let accepted = entry.options.map(\.key)
        for key in values.keys.sorted() where !accepted.contains(key) {
            var message = "is not an option of model \"\(entry.name)\""
            if let closest = StrictDecoding.closestKey(to: key, among: accepted) {
                message += "; did you mean \"\(closest)\"?"
            } else {
                message += ", which accepts " + (accepted.isEmpty ? "no options" : accepted.joined(separator: ", "))
            }
            throw ModelError.invalidOption(option: "model.\(key)", message: message)
        }
        self.values = values
    }

    /// Creates a reader without checking keys, for models built directly in code and tests.
    public init(unchecked values: [String: JSONValue]) {
        self.values = values
    }

    public func int(_ key: String, default defaultValue: Int) throws -> Int {
        try optionalInt(key) ?? defaultValue
    }

    public func optionalInt(_ key: String) throws -> Int? {
        guard let value = values[key] else { return nil }
        guard case .number(let number) = value, number == number.rounded(), abs(number) < 1e15 else {
            throw mismatch(key, expected: "a whole number", got: value)
        }
        return Int(number)
    }

    public func float(_ key: String, default defaultValue: Float) throws -> Float {
        guard let value = values[key] else { return defaultValue }
        guard case .number(let number) = value else { throw mismatch(key, expected: "a number", got: value) }
        return Float(number)
    }

    public func string(_ key: String, default defaultValue: String) throws -> String {
        guard let value = values[key] else { return defaultValue }
        guard case .string(let text) = value else { throw mismatch(key, expected: "a string", got: value) }
        return text
    }

    public func bool(_ key: String, default defaultValue: Bool) throws -> Bool {
        guard let value = values[key] else { return defaultValue }
        guard case .bool(let flag) = value else { throw mismatch(key, expected: "true or false", got: value) }
        return flag
    }

    public func intArray(_ key: String, default defaultValue: [Int]) throws -> [Int] {
        guard let value = values[key] else { return defaultValue }
        guard case .array(let items) = value else { throw mismatch(key, expected: "an array of whole numbers", got: value) }
        return try items.map { item in
            guard case .number(let number) = item, number == number.rounded(), abs(number) < 1e15 else {
                throw mismatch(key, expected: "an array of whole numbers", got: value)
            }
            return Int(number)
        }
    }

    public func stringArray(_ key: String, default defaultValue: [String]) throws -> [String] {
        guard let value = values[key] else { return defaultValue }
        guard case .array(let items) = value else { throw mismatch(key, expected: "an array of strings", got: value) }
        return try items.map { item in
            guard case .string(let text) = item else { throw mismatch(key, expected: "an array of strings", got: value) }
            return text
        }
    }

    private func mismatch(_ key: String, expected: String, got value: JSONValue) -> ModelError {
        .invalidOption(option: "model.\(key)", message: "expected \(expected), got \(value.typeName)")
    }
}
