import XCTest
@testable import TensorCore

final class RandomTests: XCTestCase {
    func testSplitMixSeedingMatchesReference() {
        // SplitMix64 started at 0 first yields 0xE220A8397B1DCDAF; the seeding puts it in the
        // first state word.
        XCTAssertEqual(RandomGenerator(seed: 0).state[0], 0xE220_A839_7B1D_CDAF)
    }

    func testXoshiroStepMatchesHandComputed() {
        // From state (1, 2, 3, 4): output rotl(2·5, 7)·9 = 11520, and the next state follows the
        // xoshiro256** update written out by hand.
        var generator = RandomGenerator(seed: 0)
        generator.state = [1, 2, 3, 4]
        XCTAssertEqual(generator.next(), 11520)
        XCTAssertEqual(generator.state, [7, 0, 262146, UInt64(6) << 45])
    }

    func testSameSeedSameSequence() {
        var first = RandomGenerator(seed: 42)
        var second = RandomGenerator(seed: 42)
        var other = RandomGenerator(seed: 43)
        let a = (0..<5).map { _ in first.next() }
        XCTAssertEqual(a, (0..<5).map { _ in second.next() })
        XCTAssertNotEqual(a, (0..<5).map { _ in other.next() })
    }

    func testStateRoundTrip() {
        var generator = RandomGenerator(seed: 7)
        _ = generator.next()
        let saved = generator.state
        let expected = (0..<3).map { _ in generator.next() }
        var restored = RandomGenerator(seed: 0)
        restored.state = saved
        XCTAssertEqual((0..<3).map { _ in restored.next() }, expected)
    }

    func testFloatRange() {
        var generator = RandomGenerator(seed: 8)
        for _ in 0..<10_000 {
            let value = generator.nextFloat()
            XCTAssertGreaterThanOrEqual(value, 0)
            XCTAssertLessThan(value, 1)
        }
    }

    func testUniformRange() {
        var generator = RandomGenerator(seed: 9)
        for _ in 0..<10_000 {
            let value = generator.nextUniform(low: -2, high: 3)
            XCTAssertGreaterThanOrEqual(value, -2)
            XCTAssertLessThan(value, 3)
        }
    }

    func testNormalMoments() {
        var generator = RandomGenerator(seed: 10)
        let samples = (0..<100_000).map { _ in Double(generator.nextNormal()) }
        let mean = samples.reduce(0, +) / Double(samples.count)
        let variance = samples.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(samples.count)
        // Standard errors are about 0.003 for the mean and 0.0045 for the variance.
        XCTAssertEqual(mean, 0, accuracy: 0.02)
        XCTAssertEqual(variance, 1, accuracy: 0.03)
    }

    func testIntBelowCoversRange() {
        var generator = RandomGenerator(seed: 11)
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<7000 { counts[generator.nextInt(below: 7)] += 1 }
        for count in counts {
            XCTAssertGreaterThan(count, 800, "bucket count of 7000 draws over 7")
            XCTAssertLessThan(count, 1200, "bucket count of 7000 draws over 7")
        }
    }

    func testShuffleIsPermutation() {
        var generator = RandomGenerator(seed: 12)
        var values = Array(0..<100)
        generator.shuffle(&values)
        XCTAssertEqual(values.sorted(), Array(0..<100))
        XCTAssertNotEqual(values, Array(0..<100))
    }
}
