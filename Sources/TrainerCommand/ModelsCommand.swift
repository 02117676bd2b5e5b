import Models

/// `trainer models`: lists the models a config can name, with their options.
enum ModelsCommand {
    static let summary = "List the models a config can name in model.name, with each model's options and defaults."

    static let specs: [OptionSpec] = []

    static func run(_ arguments: [String]) throws -> Int32 {
        _ = try ParsedOptions(arguments, specs: specs)
        for entry in ModelRegistry.entries {
            print("\(entry.name): \(entry.summary)")
            let width = (entry.options.map(\.key.count).max() ?? 0) + 2
            for option in entry.options {
                print("    " + option.key.padding(toLength: width, withPad: " ", startingAt: 0) + option.help)
            }
            print("")
        }
        return 0
    }
}
