import Foundation

/// Formats the row-sharding plan as a table: rows and bytes (rows and optimizer state) per rank
/// for each table, then the totals.
enum ShardingReport {
    static func format(_ plan: [(feature: String, rows: Int, rowsPerRank: [Int], bytesPerRank: [Int])]) -> String {
        guard let worldSize = plan.first?.rowsPerRank.count else { return "no embedding tables" }
        let nameWidth = max(7, plan.map(\.feature.count).max() ?? 0)
        var lines = ["embedding rows and bytes per rank (rows with optimizer state):"]
        var header = "table".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  " + pad("rows", 12)
        for rank in 0..<worldSize { header += "  " + pad("rank \(rank)", 22) }
        lines.append(header)
        var totals = [Int](repeating: 0, count: worldSize)
        for entry in plan {
            var line = entry.feature.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  " + pad("\(entry.rows)", 12)
            for rank in 0..<worldSize {
                line += "  " + pad("\(entry.rowsPerRank[rank]) / \(formatBytes(entry.bytesPerRank[rank]))", 22)
                totals[rank] += entry.bytesPerRank[rank]
            }
            lines.append(line)
        }
        var total = "total".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  " + pad("\(plan.reduce(0) { $0 + $1.rows })", 12)
        for rank in 0..<worldSize { total += "  " + pad(formatBytes(totals[rank]), 22) }
        lines.append(total)
        return lines.joined(separator: "\n")
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
    }

    /// Bytes with a binary unit: `512 B`, `3.2 KiB`, `1.5 GiB`.
    static func formatBytes(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}
