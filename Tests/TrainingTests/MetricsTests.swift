import Foundation
import XCTest
@testable import Training

/// Deterministic generator for test data, so a failing seed can be rerun.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Reference AUC by counting every (positive, negative) pair in Double, a tie counting 0.5.
private func pairCountingAUC(scores: [Float], labels: [Float]) -> Double? {
    var ordered = 0.0
    var pairs = 0.0
    for i in 0..<scores.count where labels[i] == 1 {
        for j in 0..<scores.count where labels[j] == 0 {
            pairs += 1
            if Double(scores[i]) > Double(scores[j]) {
                ordered += 1
            } else if Double(scores[i]) == Double(scores[j]) {
                ordered += 0.5
            }
        }
    }
    return pairs > 0 ? ordered / pairs : nil
}

/// Reference GAUC, UAUC and valid users by grouping rows in a dictionary and looping.
private func referenceGrouped(scores: [Float], labels: [Float], users: [Int64])
    -> (gauc: Double?, uauc: Double?, validUsers: Int) {
    var rowsOfUser: [Int64: [Int]] = [:]
    for row in 0..<users.count { rowsOfUser[users[row], default: []].append(row) }

    var weightedSum = 0.0
    var weight = 0.0
    var unweightedSum = 0.0
    var validUsers = 0
    for rows in rowsOfUser.values {
        let auc = pairCountingAUC(scores: rows.map { scores[$0] }, labels: rows.map { labels[$0] })
        guard let auc else { continue }
        weightedSum += Double(rows.count) * auc
        weight += Double(rows.count)
        unweightedSum += auc
        validUsers += 1
    }
    guard validUsers > 0 else { return (nil, nil, 0) }
    return (weightedSum / weight, unweightedSum / Double(validUsers), validUsers)
}

/// Random rows whose scores are rounded to 2 decimals, so ties are frequent.
private struct RandomRows {
    var scores: [Float] = []
    var labels: [Float] = []
    var users: [Int64] = []
    var scenes: [Int32] = []

    init(seed: UInt64, rowCount: Int, taskCount: Int, userCount: Int, sceneCount: Int) {
        var generator = SplitMix64(seed: seed)
        for _ in 0..<rowCount {
            users.append(Int64.random(in: 0..<Int64(userCount), using: &generator) * 7_919 - 50_000)
            scenes.append(Int32.random(in: 0..<Int32(sceneCount), using: &generator))
            for task in 0..<taskCount {
                let score = (Float.random(in: 0...1, using: &generator) * 100).rounded() / 100
                // Rarer positives in later tasks, so some users and scenes lack a class.
                let positiveRate = 0.4 / Double(task + 1)
                let isPositive = Double.random(in: 0..<1, using: &generator) < positiveRate * Double(0.5 + score)
                scores.append(score)
                labels.append(isPositive ? 1 : 0)
            }
        }
    }

    func column(_ values: [Float], task: Int, taskCount: Int) -> [Float] {
        stride(from: task, to: values.count, by: taskCount).map { values[$0] }
    }
}

final class MetricsTests: XCTestCase {
    func testAUCKnownCases() {
        XCTAssertEqual(AUC.compute(scores: [0.1, 0.2, 0.8, 0.9], labels: [0, 0, 1, 1]), 1)
        XCTAssertEqual(AUC.compute(scores: [0.1, 0.2, 0.8, 0.9], labels: [1, 1, 0, 0]), 0)
        XCTAssertEqual(AUC.compute(scores: [0.5, 0.5, 0.5, 0.5], labels: [1, 0, 1, 0]), 0.5)
        XCTAssertEqual(AUC.compute(scores: [0.1, 0.4, 0.4, 0.8], labels: [0, 1, 0, 1]), 0.875)
    }

    func testAUCUndefinedWithoutBothClasses() {
        XCTAssertNil(AUC.compute(scores: [0.1, 0.9], labels: [1, 1]))
        XCTAssertNil(AUC.compute(scores: [0.1, 0.9], labels: [0, 0]))
        XCTAssertNil(AUC.compute(scores: [], labels: []))
    }

    func testAUCZeroSignsTie() {
        XCTAssertEqual(AUC.compute(scores: [-0.0, 0.0], labels: [1, 0]), 0.5)
        XCTAssertEqual(AUC.compute(scores: [-0.5, -0.25, 0, 3], labels: [0, 1, 0, 1]), 0.75)
    }

    func testAUCMatchesPairCountingWithTies() {
        for seed: UInt64 in 1...6 {
            let rows = RandomRows(seed: seed, rowCount: 700, taskCount: 1, userCount: 10, sceneCount: 1)
            let expected = pairCountingAUC(scores: rows.scores, labels: rows.labels)
            let actual = AUC.compute(scores: rows.scores, labels: rows.labels)
            XCTAssertNotNil(expected, "seed \(seed)")
            XCTAssertEqual(actual ?? .nan, expected ?? .nan, accuracy: 1e-9, "seed \(seed)")
        }
    }

    func testRadixSortIsStableByHighBits() {
        for seed: UInt64 in 41...44 {
            var generator = SplitMix64(seed: seed)
            // Few distinct high halves, so equal keys test stability. Seed 44 uses a single high
            // half, so every key ties.
            let distinctHighs = seed == 44 ? 1 : 50
            let highs = (0..<distinctHighs).map { _ in UInt64(UInt32.random(in: 0...UInt32.max, using: &generator)) }
            var keys = (0..<3_000).map { low in highs.randomElement(using: &generator)! << 32 | UInt64(low) }
            let expected = keys.enumerated()
                .sorted { ($0.element >> 32, $0.offset) < ($1.element >> 32, $1.offset) }
                .map(\.element)
            var scratch = [UInt64](repeating: 0, count: keys.count)
            keys.withUnsafeMutableBufferPointer { keys in
                scratch.withUnsafeMutableBufferPointer { scratch in
                    radixSort(keys: keys.baseAddress!, values: nil, count: keys.count, keyShift: 32, keyBits: 32,
                              scratchKeys: scratch.baseAddress!, scratchValues: nil)
                }
            }
            XCTAssertEqual(keys, expected, "seed \(seed)")
        }
    }

    func testGroupedAUCMatchesReference() {
        for seed: UInt64 in 11...15 {
            let rows = RandomRows(seed: seed, rowCount: 900, taskCount: 1, userCount: 200, sceneCount: 1)
            let expected = referenceGrouped(scores: rows.scores, labels: rows.labels, users: rows.users)
            let actual = GroupedAUC.compute(scores: rows.scores, labels: rows.labels, users: rows.users)
            XCTAssertGreaterThan(expected.validUsers, 0, "seed \(seed)")
            XCTAssertLessThan(expected.validUsers, 200, "seed \(seed): some users should lack a class")
            XCTAssertEqual(actual.validUsers, expected.validUsers, "seed \(seed)")
            XCTAssertEqual(actual.gauc ?? .nan, expected.gauc ?? .nan, accuracy: 1e-9, "seed \(seed)")
            XCTAssertEqual(actual.uauc ?? .nan, expected.uauc ?? .nan, accuracy: 1e-9, "seed \(seed)")
        }
    }

    func testGroupedAUCHandComputed() {
        // User 7: AUC 1 over 3 rows. User 9: AUC 0.5 over 2 rows. User 4: negatives only.
        let scores: [Float] = [0.9, 0.1, 0.2, 0.3, 0.3, 0.6]
        let labels: [Float] = [1, 0, 0, 1, 0, 0]
        let users: [Int64] = [7, 7, 7, 9, 9, 4]
        let result = GroupedAUC.compute(scores: scores, labels: labels, users: users)
        XCTAssertEqual(result.validUsers, 2)
        XCTAssertEqual(result.gauc ?? .nan, (3 * 1 + 2 * 0.5) / 5, accuracy: 1e-12)
        XCTAssertEqual(result.uauc ?? .nan, 0.75, accuracy: 1e-12)
    }

    func testGroupedAUCWithoutValidUsers() {
        let result = GroupedAUC.compute(scores: [0.2, 0.8], labels: [1, 0], users: [1, 2])
        XCTAssertEqual(result, GroupedAUC(gauc: nil, uauc: nil, validUsers: 0))
    }

    func testReportMatchesReference() throws {
        let taskCount = 3
        let sceneCount = 4
        for seed: UInt64 in 21...23 {
            let rows = RandomRows(seed: seed, rowCount: 1_200, taskCount: taskCount, userCount: 40, sceneCount: sceneCount)
            let taskNames = ["is_click", "long_view", "is_like"]
            let sceneNames = ["tab_a", "tab_b", "tab_c", "tab_d"]
            let report = try EvaluationReport(scores: rows.scores, labels: rows.labels, users: rows.users,
                                              scenes: rows.scenes, taskNames: taskNames, sceneNames: sceneNames)

            XCTAssertEqual(report.rows, 1_200)
            XCTAssertEqual(report.tasks.map(\.name), taskNames)
            XCTAssertEqual(report.scenes.map(\.name), sceneNames)
            for task in 0..<taskCount {
                let scores = rows.column(rows.scores, task: task, taskCount: taskCount)
                let labels = rows.column(rows.labels, task: task, taskCount: taskCount)
                let metrics = report.tasks[task]
                let grouped = referenceGrouped(scores: scores, labels: labels, users: rows.users)
                let context = "seed \(seed) task \(task)"
                XCTAssertEqual(metrics.auc ?? .nan, pairCountingAUC(scores: scores, labels: labels) ?? .nan,
                               accuracy: 1e-9, context)
                XCTAssertEqual(metrics.gauc ?? .nan, grouped.gauc ?? .nan, accuracy: 1e-9, context)
                XCTAssertEqual(metrics.uauc ?? .nan, grouped.uauc ?? .nan, accuracy: 1e-9, context)
                XCTAssertEqual(metrics.validUsers, grouped.validUsers, context)
                XCTAssertEqual(metrics.positives, labels.filter { $0 == 1 }.count, context)
                XCTAssertEqual(metrics.rows, 1_200, context)
                XCTAssertEqual(metrics.logloss ?? .nan, referenceLogloss(scores: scores, labels: labels),
                               accuracy: 1e-9, context)

                for scene in 0..<sceneCount {
                    let sceneRows = (0..<rows.users.count).filter { rows.scenes[$0] == Int32(scene) }
                    let sceneScores = sceneRows.map { scores[$0] }
                    let sceneLabels = sceneRows.map { labels[$0] }
                    let sceneGrouped = referenceGrouped(scores: sceneScores, labels: sceneLabels,
                                                        users: sceneRows.map { rows.users[$0] })
                    let sceneMetrics = report.scenes[scene].tasks[task]
                    let sceneContext = context + " scene \(scene)"
                    XCTAssertEqual(report.scenes[scene].rows, sceneRows.count, sceneContext)
                    XCTAssertEqual(sceneMetrics.task, taskNames[task], sceneContext)
                    XCTAssertEqual(sceneMetrics.auc ?? .nan,
                                   pairCountingAUC(scores: sceneScores, labels: sceneLabels) ?? .nan,
                                   accuracy: 1e-9, sceneContext)
                    XCTAssertEqual(sceneMetrics.gauc ?? .nan, sceneGrouped.gauc ?? .nan, accuracy: 1e-9, sceneContext)
                    XCTAssertEqual(sceneMetrics.validUsers, sceneGrouped.validUsers, sceneContext)
                }
            }

            let aucs = report.tasks.compactMap(\.auc)
            XCTAssertEqual(report.macro.auc ?? .nan, aucs.reduce(0, +) / Double(aucs.count), accuracy: 1e-12)
            let gaucs = report.tasks.compactMap(\.gauc)
            XCTAssertEqual(report.macro.gauc ?? .nan, gaucs.reduce(0, +) / Double(gaucs.count), accuracy: 1e-12)
        }
    }

    func testReportMissingClassGivesNil() throws {
        // For task 0, scene 1 and user 2 have only negatives, and scene 2 has no rows.
        let report = try EvaluationReport(
            scores: [0.9, 0.2, 0.1, 0.7, 0.4, 0.3, 0.6, 0.5],
            labels: [1, 0, 0, 1, 0, 0, 0, 1],
            users: [1, 1, 2, 2],
            scenes: [0, 0, 1, 1],
            taskNames: ["click", "like"], sceneNames: ["a", "b", "empty"])

        XCTAssertNotNil(report.scenes[0].tasks[0].auc)
        XCTAssertNil(report.scenes[1].tasks[0].auc)
        XCTAssertNil(report.scenes[1].tasks[0].gauc)
        XCTAssertEqual(report.scenes[2].rows, 0)
        XCTAssertNil(report.scenes[2].tasks[1].auc)
        XCTAssertEqual(report.tasks[0].gauc, 1)
        XCTAssertEqual(report.tasks[0].validUsers, 1)
        XCTAssertEqual(report.tasks[0].auc, 1)
    }

    func testReportWithoutRows() throws {
        let report = try EvaluationReport(scores: [], labels: [], users: [], scenes: [],
                                          taskNames: ["click", "like"], sceneNames: ["a"])
        XCTAssertEqual(report.rows, 0)
        XCTAssertNil(report.tasks[0].auc)
        XCTAssertNil(report.tasks[1].logloss)
        XCTAssertEqual(report.tasks[1].validUsers, 0)
        XCTAssertNil(report.macro.auc)
        XCTAssertEqual(report.scenes[0].rows, 0)
        XCTAssertNil(report.scenes[0].tasks[1].gauc)
    }

    func testReportLoglossClipsProbabilities() throws {
        let report = try EvaluationReport(scores: [0, 1], labels: [1, 0], users: [1, 1], scenes: [0, 0],
                                          taskNames: ["click"], sceneNames: ["a"])
        XCTAssertEqual(report.tasks[0].logloss ?? .nan, -log(1e-7), accuracy: 1e-6)
    }

    func testReportRejectsNonFiniteScore() {
        XCTAssertThrowsError(try EvaluationReport(scores: [0.5, .nan], labels: [0, 1], users: [1, 2], scenes: [0, 0],
                                                  taskNames: ["click"], sceneNames: ["a"])) { error in
            guard case let .nonFiniteScore(task, row, value)? = error as? EvaluationError else {
                return XCTFail("expected nonFiniteScore, got \(error)")
            }
            XCTAssertEqual(task, "click")
            XCTAssertEqual(row, 1)
            XCTAssertTrue(value.isNaN)
            XCTAssertTrue("\(error)".contains("row 1"))
        }
    }

    func testReportRejectsInvalidLabel() {
        XCTAssertThrowsError(try EvaluationReport(scores: [0.5, 0.5, 0.5, 0.5], labels: [0, 1, 0.5, 0],
                                                  users: [1, 2], scenes: [0, 0],
                                                  taskNames: ["click", "like"], sceneNames: ["a"])) { error in
            XCTAssertEqual(error as? EvaluationError, .invalidLabel(task: "click", row: 1, value: 0.5))
            XCTAssertTrue("\(error)".contains("'click'"))
        }
    }

    func testReportRejectsSceneOutOfRange() {
        XCTAssertThrowsError(try EvaluationReport(scores: [0.5, 0.5], labels: [0, 1], users: [1, 2], scenes: [0, 2],
                                                  taskNames: ["click"], sceneNames: ["a", "b"])) { error in
            XCTAssertEqual(error as? EvaluationError, .sceneOutOfRange(row: 1, scene: 2, sceneCount: 2))
        }
    }

    func testReportJSONHasNullsAndSortedKeys() throws {
        let report = try EvaluationReport(scores: [0.9, 0.2, 0.4], labels: [1, 0, 0], users: [1, 1, 2],
                                          scenes: [0, 0, 1], taskNames: ["click"], sceneNames: ["a", "b"])
        let text = String(decoding: try report.jsonData(), as: UTF8.self)

        XCTAssertFalse(text.lowercased().contains("nan"))
        XCTAssertTrue(text.contains("\"auc\" : null"), text)
        XCTAssertTrue(text.contains("\"gauc\" : null"), text)
        let taskKeys = ["\"auc\"", "\"gauc\"", "\"logloss\"", "\"name\"", "\"positives\"", "\"rows\"",
                        "\"uauc\"", "\"validUsers\""]
        let positions = taskKeys.map { key in text.range(of: key, range: text.range(of: "\n  \"tasks\"")!.upperBound..<text.endIndex)!.lowerBound }
        XCTAssertEqual(positions, positions.sorted())
        let topKeys = ["\"macro\"", "\"rows\"", "\"scenes\"", "\"tasks\""]
        let topPositions = topKeys.map { text.range(of: "\n  " + $0)!.lowerBound }
        XCTAssertEqual(topPositions, topPositions.sorted())
    }

    func testReportJSONRoundTrip() throws {
        let rows = RandomRows(seed: 31, rowCount: 300, taskCount: 2, userCount: 20, sceneCount: 3)
        let report = try EvaluationReport(scores: rows.scores, labels: rows.labels, users: rows.users,
                                          scenes: rows.scenes, taskNames: ["click", "like"],
                                          sceneNames: ["a", "b", "c"])
        let decoded = try JSONDecoder().decode(EvaluationReport.self, from: try report.jsonData())
        XCTAssertEqual(decoded, report)
    }

    func testReportJSONRoundTripWithNulls() throws {
        let report = EvaluationReport(
            rows: 0, tasks: [.init(name: "click", auc: nil, gauc: nil, uauc: nil, validUsers: 0, positives: 0,
                                   rows: 0, logloss: nil)],
            macro: .init(auc: nil, gauc: nil, uauc: nil),
            scenes: [.init(name: "a", rows: 0, tasks: [.init(task: "click", auc: nil, gauc: nil, validUsers: 0)])])
        let decoded = try JSONDecoder().decode(EvaluationReport.self, from: try report.jsonData())
        XCTAssertEqual(decoded, report)
    }

    func testReportTablesText() {
        let report = EvaluationReport(
            rows: 123_456,
            tasks: [.init(name: "is_click", auc: 0.73125, gauc: 0.65, uauc: 0.6489, validUsers: 21_345,
                          positives: 40_000, rows: 123_456, logloss: 0.55214),
                    .init(name: "is_like", auc: nil, gauc: nil, uauc: nil, validUsers: 0, positives: 0,
                          rows: 123_456, logloss: 0.0801)],
            macro: .init(auc: 0.73125, gauc: 0.65, uauc: 0.6489),
            scenes: [.init(name: "tab_0", rows: 123_456,
                           tasks: [.init(task: "is_click", auc: 0.7012, gauc: 0.6, validUsers: 3),
                                   .init(task: "is_like", auc: nil, gauc: nil, validUsers: 0)])])
        let expected = """
            task      AUC     GAUC    UAUC    val_user  logloss
            is_click  0.7312  0.6500  0.6489  21,345    0.5521
            is_like   -       -       -       0         0.0801
            macro     0.7312  0.6500  0.6489

            scene  rows     is_click  is_like
            tab_0  123,456  0.7012    -

            """
        XCTAssertEqual(report.formattedTables(), expected)
    }

    func testThousandsSeparator() {
        let cases: [(Int, String)] = [(0, "0"), (999, "999"), (1_000, "1,000"), (23_456, "23,456"),
                                      (1_234_567, "1,234,567"), (-1_000, "-1,000")]
        for (value, expected) in cases {
            XCTAssertEqual(ThousandsSeparator.format(value), expected, "value \(value)")
        }
    }

    private func referenceLogloss(scores: [Float], labels: [Float]) -> Double {
        var total = 0.0
        for (score, label) in zip(scores, labels) {
            let probability = min(max(Double(score), 1e-7), 1 - 1e-7)
            total += label == 1 ? -log(probability) : -log(1 - probability)
        }
        return total / Double(scores.count)
    }
}
