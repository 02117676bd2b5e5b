/// SplitMix64, a small seeded random number generator: the same seed gives the same sequence in
/// every process, which the synthetic data generator and seeded tests rely on.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Returns a uniform value in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// Returns a uniform integer in 0 ..< `bound`.
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive, got \(bound)")
        return Int(next() % UInt64(bound))
    }

    /// Returns an approximately normal value with mean 0 and standard deviation `deviation`:
    /// the centred sum of four uniforms (Irwin–Hall), which needs no transcendental functions.
    public mutating func nextGaussian(deviation: Double) -> Double {
        let sum = nextUnit() + nextUnit() + nextUnit() + nextUnit()
        // The sum of 4 uniforms has mean 2 and variance 4/12.
        return (sum - 2) * (3.0).squareRoot() * deviation
    }
}
