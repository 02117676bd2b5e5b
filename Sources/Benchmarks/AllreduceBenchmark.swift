import Communication
import Foundation

/// `trainer-bench allreduce`: times `RingAllreduce` beside `MPI_Allreduce` under `mpirun`, or with
/// `--check` verifies the ring against a float64 reference and against `MPI_Allreduce`.
///
/// Every rank runs the same code. Rank 0 prints the table and the verdict of each check, and each
/// check failure is printed by the rank that found it, prefixed with `[rank r/W]`.
enum AllreduceBenchmark {
    static let usage = """
        usage: trainer-bench allreduce [--check] [--repetitions N] [--floats LIST] [--bucket-bytes N]
                                       [--corrupt-rank R]
        Run under mpirun, for example: TRAINER=.build/release/trainer-bench launch/local.sh 4 allreduce

          --check            verify the ring allreduce instead of timing it; exits non-zero on a mismatch
          --repetitions N    timed repetitions per size, after 2 warm-up runs (default 10); the median is printed
          --floats LIST      comma-separated Float32 counts per allreduce, with optional K or M suffix
                             (default 1M,16M)
          --bucket-bytes N   fusion bucket size of the ring in bytes (default \(RingAllreduce.defaultBucketBytes))
          --corrupt-rank R   with --check: rank R flips one bit of its ring result, to show that the check fails
        """

    struct Options {
        var check = false
        var repetitions = 10
        var floatCounts = [1 << 20, 16 << 20]
        var bucketBytes = RingAllreduce.defaultBucketBytes
        var corruptRank: Int?
    }

    enum BenchmarkError: Error, CustomStringConvertible {
        case invalidArgument(String)
        case checkFailed(mismatches: Int, worldSize: Int)

        var description: String {
            switch self {
            case let .invalidArgument(message):
                return "\(message)\n\(AllreduceBenchmark.usage)"
            case let .checkFailed(mismatches, worldSize):
                return "allreduce check failed: \(mismatches) mismatches over \(worldSize) ranks (listed above)"
            }
        }
    }

    /// Runs the benchmark or the check with `arguments` (those after the `allreduce` subcommand).
    static func run(arguments: [String]) throws {
        let options = try parse(arguments)
        let communicator = try MPICommunicator()
        do {
            if options.check {
                let mismatches = try AllreduceCheck(communicator: communicator, options: options).run()
                let total = try communicator.allreduceSum(mismatches)
                if communicator.rank == 0 && total == 0 {
                    print("allreduce check passed on \(communicator.worldSize) ranks")
                }
                try communicator.finalize()
                if total > 0 {
                    throw BenchmarkError.checkFailed(mismatches: total, worldSize: communicator.worldSize)
                }
            } else {
                try measure(communicator: communicator, options: options)
                try communicator.finalize()
            }
        } catch let error as BenchmarkError {
            throw error
        } catch {
            // A failed MPI call leaves the peers waiting in a collective, so end the whole job.
            communicator.abort(message: "allreduce benchmark failed: \(error)", code: 1)
        }
    }

    static func parse(_ arguments: [String]) throws -> Options {
        var options = Options()
        var remaining = arguments[...]
        func value(for option: String) throws -> String {
            guard let value = remaining.popFirst() else {
                throw BenchmarkError.invalidArgument("missing value for \(option)")
            }
            return value
        }
        func integer(for option: String, minimum: Int) throws -> Int {
            let text = try value(for: option)
            guard let number = Int(text), number >= minimum else {
                throw BenchmarkError.invalidArgument("invalid \(option) '\(text)': expected an integer ≥ \(minimum)")
            }
            return number
        }

        while let argument = remaining.popFirst() {
            switch argument {
            case "--check":
                options.check = true
            case "--repetitions":
                options.repetitions = try integer(for: argument, minimum: 1)
            case "--bucket-bytes":
                options.bucketBytes = try integer(for: argument, minimum: MemoryLayout<Float>.size)
            case "--corrupt-rank":
                options.corruptRank = try integer(for: argument, minimum: 0)
            case "--floats":
                let text = try value(for: argument)
                options.floatCounts = try text.split(separator: ",").map { try parseCount(String($0), option: argument) }
            case "--help", "-h":
                print(usage)
                exit(0)
            default:
                throw BenchmarkError.invalidArgument("unknown option '\(argument)'")
            }
        }
        return options
    }

    /// Parses "1000", "64K" or "16M" (binary multiples).
    static func parseCount(_ text: String, option: String) throws -> Int {
        var digits = Substring(text)
        var multiplier = 1
        if digits.hasSuffix("K") || digits.hasSuffix("k") {
            multiplier = 1 << 10
            digits = digits.dropLast()
        } else if digits.hasSuffix("M") || digits.hasSuffix("m") {
            multiplier = 1 << 20
            digits = digits.dropLast()
        }
        guard let number = Int(digits), number >= 0 else {
            throw BenchmarkError.invalidArgument("invalid \(option) entry '\(text)': expected a count like 1000, 64K or 16M")
        }
        return number * multiplier
    }

    // MARK: - Timing

    static func measure(communicator: MPICommunicator, options: Options) throws {
        let worldSize = communicator.worldSize
        let ring = RingAllreduce(communicator: communicator, bucketBytes: options.bucketBytes)
        if communicator.rank == 0 {
            print("allreduce of Float32 sums: W=\(worldSize) ranks, ring bucket \(options.bucketBytes) bytes, "
                  + "median of \(options.repetitions) runs, time of the slowest rank")
            print("bus bandwidth = 2(W−1)/W · bytes / time")
            print(pad("floats", 10) + pad("MiB", 8) + pad("ring ms", 10) + pad("ring GB/s", 11)
                  + pad("MPI ms", 10) + pad("MPI GB/s", 10) + pad("ring/MPI time", 14))
        }

        for count in options.floatCounts {
            // Small values, so that repeated summing by W stays far from overflow.
            var values = (0..<count).map { Float($0 % 7) * 1e-3 }
            let ringSeconds = try medianSeconds(communicator: communicator, repetitions: options.repetitions) {
                try values.withUnsafeMutableBufferPointer { try ring.allreduce($0, average: false) }
            }
            let builtinSeconds = try medianSeconds(communicator: communicator, repetitions: options.repetitions) {
                try values.withUnsafeMutableBufferPointer { try communicator.allreduceBuiltin($0, average: false) }
            }

            if communicator.rank == 0 {
                let bytes = Double(count * MemoryLayout<Float>.size)
                let busFactor = 2 * Double(worldSize - 1) / Double(worldSize)
                func gigabytesPerSecond(_ seconds: Double) -> String {
                    format(seconds > 0 ? busFactor * bytes / seconds / 1e9 : 0, 3)
                }
                print(pad("\(count)", 10) + pad(format(bytes / 1_048_576, 1), 8)
                      + pad(format(ringSeconds * 1e3, 3), 10) + pad(gigabytesPerSecond(ringSeconds), 11)
                      + pad(format(builtinSeconds * 1e3, 3), 10) + pad(gigabytesPerSecond(builtinSeconds), 10)
                      + pad(format(builtinSeconds > 0 ? ringSeconds / builtinSeconds : 0, 2), 14))
            }
        }
    }

    /// Runs `body` twice to warm up, then `repetitions` times between barriers, and returns the
    /// median over repetitions of the slowest rank's time.
    static func medianSeconds(communicator: Communicator, repetitions: Int, body: () throws -> Void) throws -> Double {
        for _ in 0..<2 {
            try body()
        }
        var samples: [Double] = []
        for _ in 0..<repetitions {
            try communicator.barrier()
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            samples.append(try communicator.allreduceMax(seconds))
        }
        samples.sort()
        let middle = samples.count / 2
        return samples.count % 2 == 1 ? samples[middle] : (samples[middle - 1] + samples[middle]) / 2
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    static func format(_ value: Double, _ decimals: Int) -> String {
        String(format: "%.\(decimals)f", value)
    }
}

/// The `--check` mode: runs `RingAllreduce` and `MPI_Allreduce` on seeded inputs and compares both
/// with a float64 sum that each rank recomputes from every rank's inputs, without communication.
struct AllreduceCheck {
    let communicator: MPICommunicator
    let options: AllreduceBenchmark.Options

    struct Case {
        let name: String
        /// Float counts of the parameters; one entry uses the single-buffer form.
        let parameterCounts: [Int]
        let bucketBytes: Int
        let average: Bool
    }

    var cases: [Case] {
        let worldSize = communicator.worldSize
        return [
            Case(name: "empty", parameterCounts: [0], bucketBytes: options.bucketBytes, average: false),
            Case(name: "one float", parameterCounts: [1], bucketBytes: options.bucketBytes, average: false),
            Case(name: "W−1 floats", parameterCounts: [worldSize - 1], bucketBytes: options.bucketBytes, average: false),
            Case(name: "W+1 floats", parameterCounts: [worldSize + 1], bucketBytes: options.bucketBytes, average: false),
            Case(name: "1M+3 floats", parameterCounts: [1_048_579], bucketBytes: options.bucketBytes, average: false),
            Case(name: "98 buckets", parameterCounts: [100_003], bucketBytes: 4096, average: false),
            Case(name: "average", parameterCounts: [65_537], bucketBytes: options.bucketBytes, average: true),
            Case(name: "fused parameters", parameterCounts: [3, 1000, 0, 4097, 17], bucketBytes: 4096, average: true),
        ]
    }

    /// Runs every case and returns the number of mismatches this rank found.
    func run() throws -> Int {
        let rank = communicator.rank
        let worldSize = communicator.worldSize
        var mismatches = try checkCollectives()
        for (caseIndex, testCase) in cases.enumerated() {
            let seed = UInt64(caseIndex + 1)
            let count = testCase.parameterCounts.reduce(0, +)
            let inputs = (0..<count).map { Self.input(rank: rank, index: $0, seed: seed) }
            let divisor = testCase.average ? Double(worldSize) : 1

            var ringResult = inputs
            try reduceWithRing(&ringResult, testCase: testCase)
            if options.corruptRank == rank, count > 0 {
                ringResult[0] = Float(bitPattern: ringResult[0].bitPattern ^ 1)
            }
            var builtinResult = inputs
            try builtinResult.withUnsafeMutableBufferPointer {
                try communicator.allreduceBuiltin($0, average: testCase.average)
            }

            var failures: [String] = []
            let reference = Self.reference(worldSize: worldSize, count: count, seed: seed)
            var ringVersusBuiltin = 0.0
            for index in 0..<count {
                let expected = reference.sum[index] / divisor
                // W−1 float additions in any order, plus the division, round by less than (W+1)·ε·Σ|x|.
                let tolerance = Double(Float.ulpOfOne) * Double(worldSize + 1) * reference.absoluteSum[index] / divisor
                ringVersusBuiltin = max(ringVersusBuiltin, abs(Double(ringResult[index]) - Double(builtinResult[index])))
                if failures.count < 5, abs(Double(ringResult[index]) - expected) > tolerance {
                    failures.append("ring[\(index)] = \(ringResult[index]), float64 reference \(expected)")
                }
                if failures.count < 5, abs(Double(builtinResult[index]) - expected) > tolerance {
                    failures.append("MPI_Allreduce[\(index)] = \(builtinResult[index]), float64 reference \(expected)")
                }
            }
            let divergent = try ringResult.withUnsafeBufferPointer {
                try RankChecksum.divergentRanks([$0], communicator: communicator)
            }
            if rank == 0, !divergent.isEmpty {
                failures.append("ring results differ between ranks; ranks \(divergent) disagree with the majority")
            }

            for failure in failures {
                print("[rank \(rank)/\(worldSize)] check '\(testCase.name)' (seed \(seed)) failed: \(failure)")
            }
            mismatches += failures.count
            let caseFailures = try communicator.allreduceSum(failures.count)
            let largestDifference = try communicator.allreduceMax(ringVersusBuiltin)
            if rank == 0 {
                let verdict = caseFailures == 0 ? "passed" : "FAILED"
                print("check '\(testCase.name)': \(count) floats, bucket \(testCase.bucketBytes) bytes, "
                      + "average \(testCase.average), max |ring − MPI_Allreduce| \(largestDifference): \(verdict)")
            }
        }
        return mismatches
    }

    /// Checks the other collectives that training uses on MPI, against values each rank can
    /// compute alone, and returns the number of mismatches this rank found.
    private func checkCollectives() throws -> Int {
        let rank = communicator.rank
        let worldSize = communicator.worldSize
        var failures: [String] = []
        func expect<T: Equatable>(_ actual: T, _ expected: T, _ operation: String) {
            if actual != expected {
                failures.append("\(operation) returned \(actual), expected \(expected)")
            }
        }

        let left = (rank + worldSize - 1) % worldSize
        let fromLeft: [Int64] = try communicator.sendReceive([Int64(rank)], to: (rank + 1) % worldSize,
                                                             receiveCount: 1, from: left, tag: 1)
        expect(fromLeft, [Int64(left)], "sendReceive")

        var broadcastValues: [Int64] = rank == worldSize - 1 ? [7, -8, 9] : []
        try communicator.broadcast(&broadcastValues, root: worldSize - 1)
        expect(broadcastValues, [7, -8, 9], "broadcast")

        let gathered = try communicator.allgatherv((0..<rank).map { Int32(100 * rank + $0) })
        expect(gathered, (0..<worldSize).map { source in (0..<source).map { Int32(100 * source + $0) } }, "allgatherv")

        let payloads = try communicator.gatherBytes(Array("rank \(rank)".utf8), toRoot: 0)
        expect(payloads, rank == 0 ? (0..<worldSize).map { Array("rank \($0)".utf8) } : [], "gatherBytes")

        // Rank s sends rank d a block of (s + d) % 3 values, each 10·s + d.
        let blocks = (0..<worldSize).map { [Int64](repeating: Int64(10 * rank + $0), count: (rank + $0) % 3) }
        let routed = try communicator.allToAllV(blocks)
        expect(routed, (0..<worldSize).map { [Int64](repeating: Int64(10 * $0 + rank), count: ($0 + rank) % 3) },
               "allToAllV")

        try communicator.barrier()
        expect(try communicator.allreduceSum(rank + 1), worldSize * (worldSize + 1) / 2, "allreduceSum")

        for failure in failures {
            print("[rank \(rank)/\(worldSize)] check 'collectives' failed: \(failure)")
        }
        let total = try communicator.allreduceSum(failures.count)
        if rank == 0 {
            print("check 'collectives': sendReceive, broadcast, allgatherv, gatherBytes, allToAllV, barrier: "
                  + (total == 0 ? "passed" : "FAILED"))
        }
        return failures.count
    }

    private func reduceWithRing(_ values: inout [Float], testCase: Case) throws {
        let ring = RingAllreduce(communicator: communicator, bucketBytes: testCase.bucketBytes)
        try values.withUnsafeMutableBufferPointer { flat in
            if testCase.parameterCounts.count == 1 {
                try ring.allreduce(flat, average: testCase.average)
                return
            }
            var start = 0
            var parameters: [UnsafeMutableBufferPointer<Float>] = []
            for count in testCase.parameterCounts {
                parameters.append(UnsafeMutableBufferPointer(rebasing: flat[start..<(start + count)]))
                start += count
            }
            try ring.allreduce(parameters: parameters, average: testCase.average)
        }
    }

    /// Rank r's input at index i: a seeded pseudo-random float, with magnitudes from 1e-3 to 1e3
    /// so that the order of additions changes the rounded sum.
    static func input(rank: Int, index: Int, seed: UInt64) -> Float {
        var state = seed &* 0xD1B5_4A32_D192_ED03 &+ UInt64(rank) &* 0x9E37_79B9_7F4A_7C15
            &+ UInt64(index) &* 0xBF58_476D_1CE4_E5B9
        state = (state ^ (state >> 30)) &* 0xBF58_476D_1CE4_E5B9
        state = (state ^ (state >> 27)) &* 0x94D0_49BB_1331_11EB
        state ^= state >> 31
        let unit = Float(state >> 40) / Float(1 << 24)
        let magnitude = [Float(1e-3), 1, 1e3][Int(state % 3)]
        return (2 * unit - 1) * magnitude
    }

    /// Float64 sum over ranks, and the sum of absolute values that bounds the rounding error.
    static func reference(worldSize: Int, count: Int, seed: UInt64) -> (sum: [Double], absoluteSum: [Double]) {
        var sum = [Double](repeating: 0, count: count)
        var absoluteSum = [Double](repeating: 0, count: count)
        for rank in 0..<worldSize {
            for index in 0..<count {
                let value = Double(input(rank: rank, index: index, seed: seed))
                sum[index] += value
                absoluteSum[index] += abs(value)
            }
        }
        return (sum, absoluteSum)
    }
}
