import Foundation
import TensorCore

/// The shortest time a training step could take on this core if it did nothing but its
/// matrix products. It is measured two ways: the step's sgemm FLOPs divided by the best sgemm
/// rate, and the sum of the times of the step's own products, each run alone on warm operands.
///
/// The first is the floor the hardware sets. The second also counts what OpenBLAS loses on the
/// thin shapes these models have (a 1024 × 8 gradient, say), because no other code wins that back.
struct ArithmeticFloor {
    /// A product large enough for OpenBLAS to reach its best rate on one core.
    static let peakShape = GEMMShape(transposeA: false, transposeB: false, m: 2048, n: 672, k: 672)

    let calls: [GEMMShape: Int]
    let steps: Int

    var flopsPerStep: Double {
        Double(calls.reduce(0) { $0 + $1.key.flops * $1.value }) / Double(steps)
    }

    var callsPerStep: Int { calls.values.reduce(0, +) / max(steps, 1) }

    /// Returns the sgemm rate of `peakShape` in FLOP/s.
    func measurePeakRate() -> Double {
        Double(Self.peakShape.flops) / GEMMLog.secondsPerCall(Self.peakShape, minimumSeconds: 0.5)
    }

    /// One product shape of a step: its calls per step and, when it was timed, seconds per call.
    struct ShapeTiming {
        let shape: GEMMShape
        let callsPerStep: Double
        let secondsPerCall: Double?
    }

    /// Returns the seconds per step of the step's products, each shape timed alone, and the
    /// shapes largest first. Models whose groups change size every batch (APG and M2M by scene)
    /// have hundreds of shapes. So the largest are timed until they cover 98% of the FLOPs or
    /// number 48, and the rest are counted at the timed shapes' average rate.
    func measureOwnShapes() -> (seconds: Double, timedShapes: Int, shapes: [ShapeTiming]) {
        let byFlops = calls.sorted { $0.key.flops * $0.value > $1.key.flops * $1.value }
        let totalFlops = Double(byFlops.reduce(0) { $0 + $1.key.flops * $1.value })
        var timedFlops = 0.0
        var timedSeconds = 0.0
        var timings: [ShapeTiming] = []
        for (shape, count) in byFlops {
            var secondsPerCall: Double?
            if timings.count < 48 && timedFlops < 0.98 * totalFlops {
                let seconds = GEMMLog.secondsPerCall(shape, minimumSeconds: 0.05)
                secondsPerCall = seconds
                timedSeconds += Double(count) * seconds
                timedFlops += Double(shape.flops * count)
            }
            timings.append(ShapeTiming(shape: shape, callsPerStep: Double(count) / Double(steps), secondsPerCall: secondsPerCall))
        }
        let remainder = timedFlops > 0 ? (totalFlops - timedFlops) * timedSeconds / timedFlops : 0
        let timed = timings.filter { $0.secondsPerCall != nil }.count
        return ((timedSeconds + remainder) / Double(steps), timed, timings)
    }
}

/// The growth of the peak resident set size between named points of a run, from `VmHWM` in
/// /proc/self/status (Linux).
struct MemoryMarks {
    private var marks: [(name: String, peakBytes: Int)] = []

    mutating func mark(_ name: String) {
        marks.append((name, Self.peakResidentBytes()))
    }

    /// Returns one line per mark: the peak after it and its growth over the previous mark.
    func lines() -> [String] {
        var previous = 0
        return marks.map { mark in
            defer { previous = mark.peakBytes }
            return mark.name.padding(toLength: 36, withPad: " ", startingAt: 0)
                + String(format: "peak %7.1f MiB  (+%.1f MiB)", mebibytes(mark.peakBytes), mebibytes(mark.peakBytes - previous))
        }
    }

    private func mebibytes(_ bytes: Int) -> Double { Double(bytes) / 1_048_576 }

    /// Returns VmHWM in bytes, or 0 where /proc is not readable.
    static func peakResidentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kilobytes = Int(fields[1]) { return kilobytes * 1024 }
        }
        return 0
    }
}
