import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Training
import XCTest

/// Collects the elements of an SVG document, failing on anything that is not well-formed XML.
final class SVGElements: NSObject, XMLParserDelegate {
    var elements: [(name: String, attributes: [String: String])] = []
    var texts: [String] = []
    var error: Error?

    static func parse(_ svg: String) throws -> SVGElements {
        let collector = SVGElements()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = collector
        let ok = parser.parse()
        if let error = collector.error ?? parser.parserError { throw error }
        XCTAssertTrue(ok, "XMLParser rejected the document")
        return collector
    }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        elements.append((elementName, attributeDict))
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        texts.append(string)
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) {
        error = parseError
    }

    func named(_ name: String) -> [[String: String]] {
        elements.filter { $0.name == name }.map(\.attributes)
    }
}

final class RunPlotsTests: XCTestCase {
    /// Step records every 10 steps and two evaluations, as the trainer writes them.
    let lines = """
        {"losses":{"click":0.69,"like":0.30},"step":10}
        {"losses":{"click":0.60,"like":0.20},"step":20}
        {"epoch":1,"evaluation":{"macro":{"auc":0.7},"rows":100,"scenes":[{"name":"0","rows":60,"tasks":[{"auc":0.71,"task":"click","validUsers":3},{"auc":null,"task":"like","validUsers":0}]},{"name":"4","rows":40,"tasks":[{"auc":0.65,"task":"click","validUsers":2},{"auc":0.8,"task":"like","validUsers":1}]}],"tasks":[{"auc":0.70,"name":"click"},{"auc":0.75,"name":"like"}]},"step":20}
        not json, as after a crash
        {"losses":{"click":0.55,"like":0.18},"step":30}
        {"epoch":2,"evaluation":{"macro":{"auc":0.72},"rows":100,"scenes":[{"name":"0","rows":60,"tasks":[{"auc":0.73,"task":"click","validUsers":3},{"auc":0.9,"task":"like","validUsers":1}]},{"name":"4","rows":40,"tasks":[{"auc":0.66,"task":"click","validUsers":2},{"auc":0.81,"task":"like","validUsers":1}]}],"tasks":[{"auc":0.72,"name":"click"},{"auc":0.78,"name":"like"}]},"step":30}
        """

    func testCurvesReadStepAndEvaluationRecords() {
        let curves = RunPlots.curves(fromLines: lines)
        XCTAssertEqual(curves.loss.map(\.name), ["click", "like"])
        XCTAssertEqual(curves.loss[0].points.map(\.x), [10, 20, 30])
        XCTAssertEqual(curves.loss[0].points.map(\.y), [0.69, 0.60, 0.55])
        XCTAssertEqual(curves.auc.map(\.name), ["click", "like"])
        XCTAssertEqual(curves.auc[1].points.map(\.y), [0.75, 0.78])
        XCTAssertEqual(curves.sceneNames, ["0", "4"])
        XCTAssertEqual(curves.sceneAUC, [[0.73, 0.66], [0.9, 0.81]])
    }

    func testWrittenChartsAreValidSVGWithOneMarkPerValue() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("plots-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try lines.write(to: folder.appendingPathComponent("metrics.jsonl"), atomically: true, encoding: .utf8)

        let written = try RunPlots.write(directory: folder).map(\.lastPathComponent)
        XCTAssertEqual(written, ["loss.svg", "auc.svg", "scene-auc.svg"])

        let loss = try SVGElements.parse(String(contentsOf: folder.appendingPathComponent("loss.svg"), encoding: .utf8))
        XCTAssertEqual(loss.elements.first?.name, "svg")
        let polylines = loss.named("polyline")
        XCTAssertEqual(polylines.count, 2)
        XCTAssertEqual(polylines[0]["points"]?.split(separator: " ").count, 3)

        let auc = try SVGElements.parse(String(contentsOf: folder.appendingPathComponent("auc.svg"), encoding: .utf8))
        XCTAssertEqual(auc.named("polyline").count, 2)

        let scenes = try SVGElements.parse(String(contentsOf: folder.appendingPathComponent("scene-auc.svg"), encoding: .utf8))
        // Bars: 2 tasks × 2 scenes; the legend adds one square per task and the background one.
        let bars = scenes.named("rect").filter { $0["height"] != "12" && $0["width"] != "100%" }
        XCTAssertEqual(bars.count, 4)
        XCTAssertTrue(scenes.texts.contains { $0.contains("like 0: 0.9000") }, "bar titles carry their values")
    }

    func testLineChartMapsValuesLinearly() throws {
        // x from 0 to 100 spans the plot width; y from 0 to 1 spans its height, padded by 5%.
        let svg = SVGChart.lineChart(title: "t", xLabel: "x", yLabel: "y",
                                     series: [ChartSeries(name: "a", points: [(0, 0), (50, 0.5), (100, 1)])])
        let points = try XCTUnwrap(SVGElements.parse(svg).named("polyline").first?["points"])
        let pairs = points.split(separator: " ").map { $0.split(separator: ",").map { Double($0)! } }
        XCTAssertEqual(pairs.count, 3)
        XCTAssertEqual(pairs[1][0], (pairs[0][0] + pairs[2][0]) / 2, accuracy: 0.1)
        XCTAssertEqual(pairs[1][1], (pairs[0][1] + pairs[2][1]) / 2, accuracy: 0.1)
        XCTAssertGreaterThan(pairs[0][1], pairs[2][1], "larger values are drawn higher")
    }

    func testTitlesAreEscaped() throws {
        let svg = SVGChart.lineChart(title: "a < b & \"c\"", xLabel: "x", yLabel: "y",
                                     series: [ChartSeries(name: "<task>", points: [(1, 1), (2, 2)])])
        let parsed = try SVGElements.parse(svg)
        XCTAssertTrue(parsed.texts.joined().contains("a < b & \"c\""))
    }
}
