import Foundation

/// The operand sizes of one sgemm call, `C [M, N] = op(A) [M, K] · op(B) [K, N]`.
public struct GEMMShape: Hashable, Sendable, CustomStringConvertible {
    public var transposeA: Bool
    public var transposeB: Bool
    public var m: Int
    public var n: Int
    public var k: Int

    public init(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int) {
        self.transposeA = transposeA
        self.transposeB = transposeB
        self.m = m
        self.n = n
        self.k = k
    }

    /// Multiply-adds count as two floating-point operations.
    public var flops: Int { 2 * m * n * k }

    public var description: String {
        "[\(m)×\(k)]\(transposeA ? "ᵀ" : "")·[\(k)×\(n)]\(transposeB ? "ᵀ" : "")"
    }
}

/// Counts the sgemm calls of a stretch of training, for the arithmetic floor that benchmarks
/// print: the FLOPs of every product the forward and backward passes ran, and how long the same
/// products take when run alone.
///
/// Recording is off by default and costs one branch per call then. While on, calls from any
/// thread are counted under a lock.
public enum GEMMLog {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var recording = false
    nonisolated(unsafe) private static var counts: [GEMMShape: Int] = [:]

    public static var isRecording: Bool {
        lock.lock()
        defer { lock.unlock() }
        return recording
    }

    /// Clears the counts and starts counting.
    public static func start() {
        lock.lock()
        defer { lock.unlock() }
        counts = [:]
        recording = true
    }

    /// Stops counting and returns how many calls each shape had.
    public static func stop() -> [GEMMShape: Int] {
        lock.lock()
        defer { lock.unlock() }
        recording = false
        return counts
    }

    static func record(_ shape: GEMMShape) {
        lock.lock()
        defer { lock.unlock() }
        if recording { counts[shape, default: 0] += 1 }
    }

    /// Returns the seconds one call of `shape` takes on its own, the best of several timed runs
    /// of at least `minimumSeconds` / 5 each, on operands that stay in cache as they would
    /// between the layers of one step.
    public static func secondsPerCall(_ shape: GEMMShape, minimumSeconds: Double) -> Double {
        let aCount = shape.m * shape.k
        let bCount = shape.k * shape.n
        let a = (0..<aCount).map { Float(($0 * 7919) % 1000) * 1e-3 - 0.5 }
        let b = (0..<bCount).map { Float(($0 * 104_729) % 1000) * 1e-3 - 0.5 }
        var c = [Float](repeating: 0, count: shape.m * shape.n)
        let clock = ContinuousClock()
        func runOnce() {
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    c.withUnsafeMutableBufferPointer { c in
                        BLAS.sgemm(transposeA: shape.transposeA, transposeB: shape.transposeB, m: shape.m, n: shape.n,
                                   k: shape.k, alpha: 1, a: a.baseAddress!, lda: shape.transposeA ? shape.m : shape.k,
                                   b: b.baseAddress!, ldb: shape.transposeB ? shape.k : shape.n, beta: 0,
                                   c: c.baseAddress!, ldc: shape.n)
                    }
                }
            }
        }
        runOnce()
        var best = Double.infinity
        for _ in 0..<5 {
            var runs = 0
            let start = clock.now
            var elapsed = 0.0
            repeat {
                runOnce()
                runs += 1
                let duration = clock.now - start
                elapsed = Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
            } while elapsed < minimumSeconds / 5
            best = min(best, elapsed / Double(runs))
        }
        return best
    }
}
