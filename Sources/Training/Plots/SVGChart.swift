import Foundation

/// One named series of a line chart: points `(x, y)` in drawing order.
public struct ChartSeries: Sendable, Equatable {
    public var name: String
    public var points: [(x: Double, y: Double)]

    public init(name: String, points: [(x: Double, y: Double)]) {
        self.name = name
        self.points = points
    }

    public static func == (lhs: ChartSeries, rhs: ChartSeries) -> Bool {
        lhs.name == rhs.name && lhs.points.map(\.x) == rhs.points.map(\.x) && lhs.points.map(\.y) == rhs.points.map(\.y)
    }
}

/// Standalone SVG charts (no scripts, no external files) that any browser opens.
///
/// Coordinates: the plot area is `plotWidth × plotHeight` pixels inside fixed margins; data
/// ranges map linearly onto it, with y growing upward. Non-finite values are left out.
public enum SVGChart {
    static let width = 720.0
    static let height = 420.0
    static let margin = (left: 70.0, right: 160.0, top: 40.0, bottom: 50.0)
    static var plotWidth: Double { width - margin.left - margin.right }
    static var plotHeight: Double { height - margin.top - margin.bottom }
    /// Series colours, in order; repeated when there are more series.
    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    /// Returns a line chart with one polyline per series, axes with tick labels, and a legend.
    public static func lineChart(title: String, xLabel: String, yLabel: String, series: [ChartSeries]) -> String {
        let points = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite }
        let xRange = paddedRange(points.map(\.x), padFraction: 0)
        let yRange = paddedRange(points.map(\.y), padFraction: 0.05)
        var body: [String] = []
        body += axes(xRange: xRange, yRange: yRange, xLabel: xLabel, yLabel: yLabel)
        for (index, entry) in series.enumerated() {
            let color = colors[index % colors.count]
            let coordinates = entry.points.filter { $0.x.isFinite && $0.y.isFinite }.map { point in
                "\(format(xPixel(point.x, xRange))),\(format(yPixel(point.y, yRange)))"
            }
            if coordinates.count > 1 {
                body.append(#"<polyline fill="none" stroke="\#(color)" stroke-width="1.8" points="\#(coordinates.joined(separator: " "))"><title>\#(escape(entry.name))</title></polyline>"#)
            }
            // Markers on short series, so a series of one point (one evaluation) still shows.
            if coordinates.count <= 30 {
                for coordinate in coordinates {
                    let point = coordinate.split(separator: ",")
                    body.append(#"<circle cx="\#(point[0])" cy="\#(point[1])" r="3" fill="\#(color)"><title>\#(escape(entry.name))</title></circle>"#)
                }
            }
        }
        body += legend(series.map(\.name))
        return document(title: title, body: body)
    }

    /// Returns a grouped bar chart: one group per category, one bar per series in each group.
    /// `values[s][c]` is series s in category c; nil leaves a gap.
    public static func barChart(title: String, yLabel: String, categories: [String], seriesNames: [String],
                                values: [[Double?]]) -> String {
        precondition(values.count == seriesNames.count && values.allSatisfy { $0.count == categories.count },
                     "bar values must be [series][category] = [\(seriesNames.count)][\(categories.count)]")
        let present = values.flatMap { $0 }.compactMap { $0 }.filter(\.isFinite)
        let yRange = paddedRange(present + [present.min().map { max(0, $0 - 0.05) } ?? 0], padFraction: 0.05)
        var body = axes(xRange: nil, yRange: yRange, xLabel: "", yLabel: yLabel)
        let groupWidth = plotWidth / Double(max(categories.count, 1))
        let barWidth = groupWidth * 0.8 / Double(max(seriesNames.count, 1))
        for (category, name) in categories.enumerated() {
            let groupStart = margin.left + Double(category) * groupWidth + groupWidth * 0.1
            for series in seriesNames.indices {
                guard let value = values[series][category], value.isFinite else { continue }
                let top = yPixel(value, yRange)
                let bottom = margin.top + plotHeight
                body.append(#"<rect x="\#(format(groupStart + Double(series) * barWidth))" y="\#(format(top))" width="\#(format(barWidth))" height="\#(format(bottom - top))" fill="\#(colors[series % colors.count])"><title>\#(escape(seriesNames[series])) \#(escape(name)): \#(String(format: "%.4f", value))</title></rect>"#)
            }
            body.append(#"<text x="\#(format(groupStart + groupWidth * 0.4))" y="\#(format(margin.top + plotHeight + 18))" text-anchor="middle">\#(escape(name))</text>"#)
        }
        body += legend(seriesNames)
        return document(title: title, body: body)
    }

    // MARK: Pieces

    static func document(title: String, body: [String]) -> String {
        var lines = [
            #"<?xml version="1.0" encoding="UTF-8"?>"#,
            #"<svg xmlns="http://www.w3.org/2000/svg" width="\#(format(width))" height="\#(format(height))" viewBox="0 0 \#(format(width)) \#(format(height))" font-family="sans-serif" font-size="12">"#,
            #"<rect width="100%" height="100%" fill="white"/>"#,
            #"<text x="\#(format(width / 2))" y="22" text-anchor="middle" font-size="15">\#(escape(title))</text>"#,
        ]
        lines += body
        lines.append("</svg>")
        return lines.joined(separator: "\n") + "\n"
    }

    static func axes(xRange: ClosedRange<Double>?, yRange: ClosedRange<Double>, xLabel: String, yLabel: String) -> [String] {
        let left = margin.left
        let bottom = margin.top + plotHeight
        var lines = [
            #"<line x1="\#(format(left))" y1="\#(format(margin.top))" x2="\#(format(left))" y2="\#(format(bottom))" stroke="black"/>"#,
            #"<line x1="\#(format(left))" y1="\#(format(bottom))" x2="\#(format(left + plotWidth))" y2="\#(format(bottom))" stroke="black"/>"#,
        ]
        for tick in ticks(yRange) {
            let y = yPixel(tick, yRange)
            lines.append(#"<line x1="\#(format(left - 4))" y1="\#(format(y))" x2="\#(format(left + plotWidth))" y2="\#(format(y))" stroke="gainsboro"/>"#)
            lines.append(#"<text x="\#(format(left - 8))" y="\#(format(y + 4))" text-anchor="end">\#(tickLabel(tick, yRange))</text>"#)
        }
        if let xRange {
            for tick in ticks(xRange) {
                let x = xPixel(tick, xRange)
                lines.append(#"<line x1="\#(format(x))" y1="\#(format(bottom))" x2="\#(format(x))" y2="\#(format(bottom + 4))" stroke="black"/>"#)
                lines.append(#"<text x="\#(format(x))" y="\#(format(bottom + 18))" text-anchor="middle">\#(tickLabel(tick, xRange))</text>"#)
            }
            lines.append(#"<text x="\#(format(left + plotWidth / 2))" y="\#(format(height - 10))" text-anchor="middle">\#(escape(xLabel))</text>"#)
        }
        lines.append(#"<text x="16" y="\#(format(margin.top + plotHeight / 2))" text-anchor="middle" transform="rotate(-90 16 \#(format(margin.top + plotHeight / 2)))">\#(escape(yLabel))</text>"#)
        return lines
    }

    static func legend(_ names: [String]) -> [String] {
        let x = margin.left + plotWidth + 16
        return names.enumerated().flatMap { index, name -> [String] in
            let y = margin.top + 10 + Double(index) * 18
            return [
                #"<rect x="\#(format(x))" y="\#(format(y - 9))" width="12" height="12" fill="\#(colors[index % colors.count])"/>"#,
                #"<text x="\#(format(x + 18))" y="\#(format(y + 1))">\#(escape(name))</text>"#,
            ]
        }
    }

    /// The range of `values`, widened by `padFraction` of its span on both ends; a single value
    /// or no value gets a unit-wide range so the mapping stays defined.
    static func paddedRange(_ values: [Double], padFraction: Double) -> ClosedRange<Double> {
        guard let low = values.min(), let high = values.max() else { return 0...1 }
        if high - low < 1e-12 { return (low - 0.5)...(high + 0.5) }
        let pad = (high - low) * padFraction
        return (low - pad)...(high + pad)
    }

    /// About five round tick values inside `range` (steps of 1, 2 or 5 times a power of ten).
    static func ticks(_ range: ClosedRange<Double>) -> [Double] {
        let span = range.upperBound - range.lowerBound
        let raw = span / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2.0, 5.0, 10.0].map { $0 * magnitude }.first { $0 >= raw } ?? magnitude * 10
        var values: [Double] = []
        var value = ceil(range.lowerBound / step) * step
        while value <= range.upperBound + step * 1e-9 {
            values.append(value)
            value += step
        }
        return values
    }

    static func tickLabel(_ value: Double, _ range: ClosedRange<Double>) -> String {
        let span = range.upperBound - range.lowerBound
        if span >= 50 { return String(format: "%.0f", value) }
        if span >= 1 { return String(format: "%.1f", value) }
        return String(format: "%.3f", value)
    }

    static func xPixel(_ x: Double, _ range: ClosedRange<Double>) -> Double {
        margin.left + (x - range.lowerBound) / (range.upperBound - range.lowerBound) * plotWidth
    }

    static func yPixel(_ y: Double, _ range: ClosedRange<Double>) -> Double {
        margin.top + plotHeight - (y - range.lowerBound) / (range.upperBound - range.lowerBound) * plotHeight
    }

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    /// Escapes text for XML content and attribute values.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
