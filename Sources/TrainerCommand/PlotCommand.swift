import Foundation
import Training

/// `trainer plot`: draws a run directory's charts from its metrics.jsonl.
enum PlotCommand {
    static let summary = """
        Write loss.svg (training loss per task over steps), auc.svg (test AUC per task over steps) \
        and scene-auc.svg (AUC per scene and task of the last evaluation) into a run directory, from \
        its metrics.jsonl. Training writes them too, after every evaluation; this redraws them, for \
        example while a run is still going.
        """

    static let specs: [OptionSpec] = [
        .value("run-dir", "DIR", "The run directory holding metrics.jsonl."),
    ]

    static func run(_ arguments: [String]) throws -> Int32 {
        let options = try ParsedOptions(arguments, specs: specs)
        guard let path = options.string("run-dir") else {
            throw UsageError(message: "missing --run-dir DIR")
        }
        let directory = URL(fileURLWithPath: path)
        let lines = directory.appendingPathComponent(RunDirectory.metricsLinesFileName)
        guard FileManager.default.fileExists(atPath: lines.path) else {
            throw PlotError(message: "\(lines.path) not found; pass the run directory of a training run")
        }
        let written = try RunPlots.write(directory: directory)
        if written.isEmpty {
            print("\(lines.path) has no step or evaluation records yet; nothing to draw")
        }
        for file in written {
            print("wrote \(file.path)")
        }
        return 0
    }
}

struct PlotError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
