import Foundation

extension EvaluationReport {
    /// Formats the report as two fixed-width text tables for the terminal.
    ///
    /// The first table has one row per task (AUC, GAUC, UAUC, val_user, logloss) and a `macro`
    /// row. The second has one row per scene with its row count and the AUC of each task.
    /// Values have 4 decimals and a missing value prints as `-`. Every line ends with a newline.
    ///
    ///     task       AUC     GAUC    UAUC    val_user  logloss
    ///     is_click   0.7312  0.6523  0.6489  21,345    0.5521
    ///     macro      0.7101  0.6400  0.6371
    ///
    ///     scene      rows     is_click
    ///     tab_0      123,456  0.7012
    public func formattedTables() -> String {
        taskTable() + "\n" + sceneTable()
    }

    private func taskTable() -> String {
        var table = TextTable(header: ["task", "AUC", "GAUC", "UAUC", "val_user", "logloss"])
        for task in tasks {
            table.append([task.name, Self.decimal(task.auc), Self.decimal(task.gauc), Self.decimal(task.uauc),
                          Self.grouped(task.validUsers), Self.decimal(task.logloss)])
        }
        table.append(["macro", Self.decimal(macro.auc), Self.decimal(macro.gauc), Self.decimal(macro.uauc), "", ""])
        return table.rendered()
    }

    private func sceneTable() -> String {
        var table = TextTable(header: ["scene", "rows"] + tasks.map(\.name))
        for scene in scenes {
            table.append([scene.name, Self.grouped(scene.rows)] + scene.tasks.map { Self.decimal($0.auc) })
        }
        return table.rendered()
    }

    private static func decimal(_ value: Double?) -> String {
        guard let value else { return "-" }
        return String(format: "%.4f", value)
    }

    private static func grouped(_ value: Int) -> String {
        ThousandsSeparator.format(value)
    }
}

/// Left-aligned columns separated by two spaces, each as wide as its widest cell.
struct TextTable {
    private var lines: [[String]]

    init(header: [String]) {
        lines = [header]
    }

    mutating func append(_ cells: [String]) {
        precondition(cells.count == lines[0].count,
                     "table row needs \(lines[0].count) cells, got \(cells.count)")
        lines.append(cells)
    }

    func rendered() -> String {
        var widths = [Int](repeating: 0, count: lines[0].count)
        for line in lines {
            for (column, cell) in line.enumerated() {
                widths[column] = max(widths[column], cell.count)
            }
        }

        var text = ""
        for line in lines {
            var cells: [String] = []
            for (column, cell) in line.enumerated() {
                cells.append(cell.padding(toLength: widths[column], withPad: " ", startingAt: 0))
            }
            text += cells.joined(separator: "  ").trimmingTrailingSpaces() + "\n"
        }
        return text
    }
}

/// Integer formatting with a comma every three digits (`23,456`), independent of the locale so
/// that logs read the same on every machine.
enum ThousandsSeparator {
    static func format(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var text = ""
        for (index, digit) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { text.append(",") }
            text.append(digit)
        }
        return value < 0 ? "-" + text : text
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var end = endIndex
        while end > startIndex && self[index(before: end)] == " " {
            end = index(before: end)
        }
        return String(self[..<end])
    }
}
