import Foundation
@testable import DataPipeline

/// Seeded byte-level mutations of valid inputs for the fuzz tests: bit flips, inserted,
/// deleted and duplicated bytes (biased to quotes, commas and line breaks), and truncation.
struct ByteMutator {
    /// Bytes that change how CSV and JSON parse, inserted more often than random bytes.
    static let structuralBytes: [UInt8] = Array("\",\n\r{}[]:0-.eE ".utf8) + [0xEF, 0xBB, 0xBF, 0xFF, 0xC3, 0x00]

    var random: SplitMix64

    /// Creates the mutator of one iteration. The same seed and iteration give the same mutations.
    init(seed: UInt64, iteration: Int) {
        random = SplitMix64(seed: seed ^ (UInt64(iteration) &* 0x9E37_79B9_7F4A_7C15))
    }

    /// Returns `input` after 1 to 4 random mutations.
    mutating func mutate(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        for _ in 0..<(1 + random.nextInt(below: 4)) {
            mutateOnce(&bytes)
        }
        return bytes
    }

    private mutating func mutateOnce(_ bytes: inout [UInt8]) {
        let position = random.nextInt(below: bytes.count + 1)
        switch random.nextInt(below: 7) {
        case 0 where position < bytes.count:
            bytes[position] ^= UInt8(1) << UInt8(random.nextInt(below: 8))
        case 1:
            bytes.insert(Self.structuralBytes[random.nextInt(below: Self.structuralBytes.count)], at: position)
        case 2:
            bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: position)
        case 3 where position < bytes.count:
            bytes.remove(at: position)
        case 4 where position < bytes.count:
            // Duplicate a short run, such as a quote, a field or a whole line.
            let length = min(1 + random.nextInt(below: 40), bytes.count - position)
            bytes.insert(contentsOf: bytes[position..<(position + length)], at: position)
        case 5:
            bytes.removeSubrange(position...)
        default:
            let byte = Self.structuralBytes[random.nextInt(below: 4)]
            bytes.insert(contentsOf: [UInt8](repeating: byte, count: 1 + random.nextInt(below: 3)), at: position)
        }
    }
}

/// The bounds and seed of a fuzz run: `FUZZ_SEED` and `FUZZ_ITERATIONS` in the environment
/// replace the defaults, so a failure can be replayed.
struct FuzzBudget {
    static let defaultSeed: UInt64 = 0x5EED_0001
    static let defaultIterations = 20_000
    /// Each fuzz test stops after this many seconds even if iterations remain.
    static let maxSeconds = 10.0

    let seed: UInt64
    let iterations: Int

    init() {
        let environment = ProcessInfo.processInfo.environment
        seed = environment["FUZZ_SEED"].flatMap { UInt64($0) } ?? Self.defaultSeed
        iterations = environment["FUZZ_ITERATIONS"].flatMap { Int($0) } ?? Self.defaultIterations
    }

    /// Calls `body` with each iteration number until the iterations or the time run out, and
    /// returns how many ran.
    func run(_ name: String, _ body: (Int) throws -> Void) rethrows -> Int {
        // Printed first so a crash, which ends the process, still leaves the seed in the log.
        print("\(name): fuzz seed \(seed), up to \(iterations) iterations or \(Self.maxSeconds) s; replay with FUZZ_SEED=\(seed)")
        let started = Date()
        var iteration = 0
        while iteration < iterations {
            try body(iteration)
            iteration += 1
            if iteration % 256 == 0, Date().timeIntervalSince(started) > Self.maxSeconds { break }
        }
        return iteration
    }
}
