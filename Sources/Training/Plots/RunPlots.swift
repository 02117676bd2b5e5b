import Foundation

/// The charts of a run directory, drawn from its `metrics.jsonl`:
///
///     loss.svg        training loss of each task over steps (the step records)
///     auc.svg         test AUC of each task over steps (the evaluation records)
///     scene-auc.svg   AUC of each task in each scene, from the last evaluation
///
/// Lines that are not JSON objects, or records of another kind, are skipped, so a file cut off by
/// a crash still plots.
public enum RunPlots {
    public static let lossFileName = "loss.svg"
    public static let aucFileName = "auc.svg"
    public static let sceneFileName = "scene-auc.svg"

    /// Series read from `metrics.jsonl`.
    public struct Curves: Equatable {
        /// Training loss per task over steps.
        public var loss: [ChartSeries] = []
        /// Test AUC per task over steps.
        public var auc: [ChartSeries] = []
        /// Scene names, task names and AUC `[task][scene]` of the last evaluation.
        public var sceneNames: [String] = []
        public var taskNames: [String] = []
        public var sceneAUC: [[Double?]] = []
    }

    /// Reads the curves from the lines of a `metrics.jsonl` file.
    public static func curves(fromLines text: String) -> Curves {
        var loss: [String: [(x: Double, y: Double)]] = [:]
        var lossOrder: [String] = []
        var auc: [String: [(x: Double, y: Double)]] = [:]
        var aucOrder: [String] = []
        var curves = Curves()
        for line in text.split(separator: "\n") {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  let step = (object["step"] as? NSNumber)?.doubleValue else { continue }
            if let losses = object["losses"] as? [String: Any], object["evaluation"] == nil {
                for (task, value) in losses {
                    guard let number = (value as? NSNumber)?.doubleValue else { continue }
                    if loss[task] == nil { lossOrder.append(task) }
                    loss[task, default: []].append((step, number))
                }
            }
            guard let evaluation = object["evaluation"] as? [String: Any],
                  let tasks = evaluation["tasks"] as? [[String: Any]] else { continue }
            for task in tasks {
                guard let name = task["name"] as? String else { continue }
                if auc[name] == nil { aucOrder.append(name) }
                if let value = (task["auc"] as? NSNumber)?.doubleValue {
                    auc[name, default: []].append((step, value))
                }
            }
            let scenes = evaluation["scenes"] as? [[String: Any]] ?? []
            let taskNames = tasks.compactMap { $0["name"] as? String }
            curves.taskNames = taskNames
            curves.sceneNames = scenes.compactMap { $0["name"] as? String }
            curves.sceneAUC = taskNames.map { taskName in
                scenes.map { scene -> Double? in
                    let entries = scene["tasks"] as? [[String: Any]] ?? []
                    let entry = entries.first { ($0["task"] as? String) == taskName }
                    return (entry?["auc"] as? NSNumber)?.doubleValue
                }
            }
        }
        // JSON objects carry no key order, so the loss series follow the evaluation's task order.
        let orderedLoss = curves.taskNames.filter { loss[$0] != nil } + lossOrder.sorted().filter { !curves.taskNames.contains($0) }
        curves.loss = orderedLoss.map { ChartSeries(name: $0, points: loss[$0]!.sorted { $0.x < $1.x }) }
        curves.auc = aucOrder.map { ChartSeries(name: $0, points: auc[$0]!) }
        return curves
    }

    /// Writes the three charts into `directory` from its `metrics.jsonl`. Returns the files written.
    @discardableResult
    public static func write(directory: URL) throws -> [URL] {
        let source = directory.appendingPathComponent(RunDirectory.metricsLinesFileName)
        let text = (try? String(contentsOf: source, encoding: .utf8)) ?? ""
        let curves = curves(fromLines: text)
        var written: [URL] = []
        func save(_ svg: String, _ name: String) throws {
            let url = directory.appendingPathComponent(name)
            do {
                try Data(svg.utf8).write(to: url, options: .atomic)
            } catch {
                throw RunDirectoryError.writeFailed(path: url.path, reason: (error as NSError).localizedDescription)
            }
            written.append(url)
        }
        if !curves.loss.isEmpty {
            try save(SVGChart.lineChart(title: "Training loss per task", xLabel: "step", yLabel: "loss", series: curves.loss),
                     lossFileName)
        }
        if !curves.auc.isEmpty {
            try save(SVGChart.lineChart(title: "Test AUC per task", xLabel: "step", yLabel: "AUC", series: curves.auc),
                     aucFileName)
        }
        if !curves.sceneNames.isEmpty {
            try save(SVGChart.barChart(title: "Test AUC per scene (last evaluation)", yLabel: "AUC",
                                       categories: curves.sceneNames, seriesNames: curves.taskNames,
                                       values: curves.sceneAUC), sceneFileName)
        }
        return written
    }
}
