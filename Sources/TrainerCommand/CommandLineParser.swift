import DataPipeline

/// One option of a subcommand: `--name VALUE` or a flag `--name`.
struct OptionSpec {
    let name: String
    /// Placeholder shown in the help for the value, such as `FILE`; nil for a flag.
    let valueName: String?
    let help: String
    /// Default shown in the help; nil when there is none.
    let defaultValue: String?

    static func value(_ name: String, _ valueName: String, _ help: String, default defaultValue: String? = nil) -> OptionSpec {
        OptionSpec(name: name, valueName: valueName, help: help, defaultValue: defaultValue)
    }

    static func flag(_ name: String, _ help: String) -> OptionSpec {
        OptionSpec(name: name, valueName: nil, help: help, defaultValue: nil)
    }
}

/// A command-line mistake: the message is printed with the usage, and the process exits with 2.
struct UsageError: Error {
    let message: String
}

/// The options given to a subcommand, after checking them against its `OptionSpec`s.
struct ParsedOptions {
    private(set) var values: [String: String] = [:]
    private(set) var flags: Set<String> = []

    /// Parses `arguments` (without the subcommand). `--name=value` and `--name value` are both accepted.
    init(_ arguments: [String], specs: [OptionSpec]) throws {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw UsageError(message: "unexpected argument \"\(argument)\"; options start with --")
            }
            var name = String(argument.dropFirst(2))
            var inlineValue: String?
            if let equals = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard let spec = specs.first(where: { $0.name == name }) else {
                var message = "unknown option --\(name)"
                if let closest = StrictDecoding.closestKey(to: name, among: specs.map(\.name)) {
                    message += "; did you mean --\(closest)?"
                }
                throw UsageError(message: message)
            }
            if spec.valueName == nil {
                if inlineValue != nil {
                    throw UsageError(message: "option --\(name) is a flag and takes no value")
                }
                flags.insert(name)
                continue
            }
            if let inlineValue {
                values[name] = inlineValue
            } else {
                guard index < arguments.count, !arguments[index].hasPrefix("--") else {
                    throw UsageError(message: "option --\(name) needs a value (\(spec.valueName!))")
                }
                values[name] = arguments[index]
                index += 1
            }
        }
    }

    func string(_ name: String) -> String? { values[name] }

    func flag(_ name: String) -> Bool { flags.contains(name) }

    /// The integer value of `--name`, nil when absent; throws when it is not an integer of at least `minimum`.
    func integer(_ name: String, minimum: Int = Int.min) throws -> Int? {
        guard let text = values[name] else { return nil }
        guard let value = Int(text) else {
            throw UsageError(message: "option --\(name) needs a whole number, got \"\(text)\"")
        }
        guard value >= minimum else {
            throw UsageError(message: "option --\(name) must be at least \(minimum), got \(value)")
        }
        return value
    }

    /// The floating-point value of `--name`, nil when absent; throws when it is not a positive number.
    func positiveNumber(_ name: String) throws -> Float? {
        guard let text = values[name] else { return nil }
        guard let value = Float(text), value.isFinite, value > 0 else {
            throw UsageError(message: "option --\(name) needs a positive number, got \"\(text)\"")
        }
        return value
    }
}

/// Formats the help of a subcommand: usage line, summary, then one line per option.
func helpText(command: String, summary: String, specs: [OptionSpec]) -> String {
    var lines = ["usage: trainer \(command) [options]", "", summary, "", "options:"]
    let labels = specs.map { spec in "--\(spec.name)" + (spec.valueName.map { " \($0)" } ?? "") }
    let width = max(labels.map(\.count).max() ?? 0, "--help".count) + 2
    for (spec, label) in zip(specs, labels) {
        var line = "  " + label.padding(toLength: width, withPad: " ", startingAt: 0) + spec.help
        if let defaultValue = spec.defaultValue {
            line += " (default: \(defaultValue))"
        }
        lines.append(line)
    }
    lines.append("  --help".padding(toLength: width + 2, withPad: " ", startingAt: 0) + "Print this help and exit.")
    return lines.joined(separator: "\n")
}
