#if canImport(Glibc)
import Glibc
#endif

/// A seeded pseudo-random generator: xoshiro256** (Blackman and Vigna, 2018), with its 256-bit
/// state filled from the seed by SplitMix64.
///
/// The integer and `Float` outputs use integer arithmetic only, so a seed gives the same
/// sequence on every run and platform. `nextNormal()` also calls `log`, `cos` and `sqrt` of the C
/// library in Double before rounding to Float.
/// NOTE: a C library whose `log` or `cos` rounds differently could change a normal sample in
/// rare cases; the sequences of every other method do not depend on the C library.
public struct RandomGenerator: Sendable {
    // Internal but inlinable, so that callers in other modules (dropout masks) inline `next()`.
    @usableFromInline var s0: UInt64
    @usableFromInline var s1: UInt64
    @usableFromInline var s2: UInt64
    @usableFromInline var s3: UInt64

    /// Creates a generator whose state is the first four outputs of SplitMix64 started at `seed`.
    public init(seed: UInt64) {
        var splitMixState = seed
        func nextSplitMix() -> UInt64 {
            splitMixState &+= 0x9E37_79B9_7F4A_7C15
            var z = splitMixState
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = nextSplitMix()
        s1 = nextSplitMix()
        s2 = nextSplitMix()
        s3 = nextSplitMix()
    }

    /// The four state words, for checkpoints. Setting it resumes the sequence exactly; the state
    /// must have four words, not all zero.
    public var state: [UInt64] {
        get { [s0, s1, s2, s3] }
        set {
            precondition(newValue.count == 4, "a RandomGenerator state has 4 words, got \(newValue.count)")
            precondition(newValue.contains { $0 != 0 }, "an all-zero xoshiro256** state never changes")
            (s0, s1, s2, s3) = (newValue[0], newValue[1], newValue[2], newValue[3])
        }
    }

    /// Returns the next 64 random bits.
    @inlinable
    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, by: 7) &* 9
        let shifted = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= shifted
        s3 = rotateLeft(s3, by: 45)
        return result
    }

    @inlinable @inline(__always)
    func rotateLeft(_ value: UInt64, by count: UInt64) -> UInt64 {
        (value << count) | (value >> (64 - count))
    }

    /// Returns a uniform Float in [0, 1) from the top 24 bits, so every value is a multiple of 2⁻²⁴.
    @inlinable
    public mutating func nextFloat() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// Returns a uniform Float in [low, high).
    public mutating func nextUniform(low: Float, high: Float) -> Float {
        precondition(low <= high, "nextUniform needs low <= high, got \(low) and \(high)")
        let value = low + (high - low) * nextFloat()
        // Rounding of the product can reach `high` itself; keep the interval half-open.
        return value < high ? value : low
    }

    /// Returns a standard normal sample (mean 0, variance 1) by the Box–Muller transform,
    /// using two uniform draws per sample.
    public mutating func nextNormal() -> Float {
        // u1 is in (0, 1], so log(u1) is finite.
        let u1 = Double((next() >> 11) + 1) * 0x1p-53
        let u2 = Double(next() >> 11) * 0x1p-53
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// Returns a uniform integer in `0 ..< bound` without modulo bias (Lemire's multiply and
    /// reject method).
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "nextInt needs a positive bound, got \(bound)")
        let range = UInt64(bound)
        var product = next().multipliedFullWidth(by: range)
        if product.low < range {
            let threshold = (0 &- range) % range
            while product.low < threshold {
                product = next().multipliedFullWidth(by: range)
            }
        }
        return Int(product.high)
    }

    /// Shuffles `array` in place by Fisher–Yates, drawing one `nextInt(below:)` per position.
    public mutating func shuffle(_ array: inout [Int]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            let j = nextInt(below: i + 1)
            array.swapAt(i, j)
        }
    }
}
