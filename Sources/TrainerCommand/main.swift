import Foundation
import TensorCore
import Training

/// Top-level usage, printed by `trainer --help` and after a command-line mistake.
let usage = """
    usage: trainer <command> [options]

    Data-parallel trainer for multi-scene, multi-task CTR models.

    commands:
      train         Train a model and evaluate it on the test split.
      eval          Evaluate a checkpoint on the test split.
      generate      Write a synthetic multi-scene data set (CSV files).
      check-config  Validate a config file without training.
      models        List the models and their options.
      plot          Draw a run's loss and AUC charts (SVG) from its metrics.jsonl.

    Run `trainer <command> --help` for the options of a command.
    Several ranks: mpirun -n 4 trainer train ...  (see launch/local.sh)
    """

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

Allocator.configureForTraining()
let arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first else {
    printError("trainer: missing command\n\n" + usage)
    exit(2)
}
let rest = Array(arguments.dropFirst())
let commands: [String: (summary: String, specs: [OptionSpec], run: ([String]) throws -> Int32)] = [
    "train": (TrainCommand.summary, TrainCommand.specs, TrainCommand.run),
    "eval": (EvalCommand.summary, EvalCommand.specs, EvalCommand.run),
    "generate": (GenerateCommand.summary, GenerateCommand.specs, GenerateCommand.run),
    "check-config": (CheckConfigCommand.summary, CheckConfigCommand.specs, CheckConfigCommand.run),
    "models": (ModelsCommand.summary, ModelsCommand.specs, ModelsCommand.run),
    "plot": (PlotCommand.summary, PlotCommand.specs, PlotCommand.run),
]

if command == "--help" || command == "-h" || command == "help" {
    print(usage)
    exit(0)
}
guard let entry = commands[command] else {
    printError("trainer: unknown command \"\(command)\"\n\n" + usage)
    exit(2)
}
if rest.contains("--help") || rest.contains("-h") {
    print(helpText(command: command, summary: entry.summary, specs: entry.specs))
    exit(0)
}
do {
    exit(try entry.run(rest))
} catch let error as UsageError {
    printError("trainer \(command): \(error.message)\n\n" + helpText(command: command, summary: entry.summary, specs: entry.specs))
    exit(2)
} catch {
    printError("trainer \(command): \(error)")
    exit(1)
}
