import TensorCore

/// Measures the matrix products of the dense layers: `matmul` through OpenBLAS against a plain
/// Swift triple loop, in GFLOP/s (one multiply-add counts as two FLOPs).
///
/// Usage: `trainer-bench gemm [--seconds S]`, where S is the minimum time per measurement
/// (default 1). Both run on the full shapes, because the plain loop's inner loop vectorizes: on one
/// AVX-512 core (release build) it ran at about 21 GFLOP/s, so one product of the larger shape
/// takes about 0.2 s.
enum GEMMBenchmark {
    struct InvalidArgument: Error, CustomStringConvertible {
        let description: String
    }

    /// The products measured, as `[M, K] · [K, N]`: a wide hidden layer and a narrow one, 4096 rows each.
    static let shapes: [(m: Int, k: Int, n: Int)] = [(4096, 672, 672), (4096, 256, 128)]

    static func run(arguments: [String]) throws {
        let minimumSeconds = try parseMinimumSeconds(arguments)

        print("OpenBLAS core: \(BLAS.coreName)")
        let coreType = BLAS.coreTypeInEffect ?? "unset (OpenBLAS detects the CPU itself)"
        print("\(BLAS.coreTypeVariable): \(coreType)\(BLAS.choseCoreType ? " (chosen from the CPU features)" : "")")
        print("minimum time per measurement: \(minimumSeconds) s, one BLAS thread unless \(BLAS.threadCountVariable) is set")

        for shape in shapes {
            let a = filledTensor([shape.m, shape.k], seed: 1)
            let b = filledTensor([shape.k, shape.n], seed: 2)

            let blasRate = measure(flops: 2 * shape.m * shape.k * shape.n, minimumSeconds: minimumSeconds) {
                let graph = Graph(training: false)
                _ = matmul(graph.constant(a), graph.constant(b))
            }
            let plainRate = measure(flops: 2 * shape.m * shape.k * shape.n, minimumSeconds: minimumSeconds) {
                _ = plainProduct(a, b)
            }

            let label = "[\(shape.m)×\(shape.k)]·[\(shape.k)×\(shape.n)]"
            print("\(label)  matmul (OpenBLAS): \(format(blasRate)) GFLOP/s")
            print("\(label)  plain Swift i-k-j loop: \(format(plainRate)) GFLOP/s")
        }
    }

    static func parseMinimumSeconds(_ arguments: [String]) throws -> Double {
        guard !arguments.isEmpty else { return 1 }
        guard arguments.count == 2, arguments[0] == "--seconds", let seconds = Double(arguments[1]), seconds > 0 else {
            throw InvalidArgument(description: "invalid arguments \(arguments) for gemm; expected [--seconds S] with S > 0")
        }
        return seconds
    }

    /// Runs `body` until at least `minimumSeconds` have passed and returns GFLOP/s.
    static func measure(flops: Int, minimumSeconds: Double, _ body: () -> Void) -> Double {
        body()  // Warm-up: loads OpenBLAS and touches the buffers.
        let clock = ContinuousClock()
        let start = clock.now
        var runs = 0
        var elapsedSeconds = 0.0
        repeat {
            body()
            runs += 1
            let elapsed = clock.now - start
            elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        } while elapsedSeconds < minimumSeconds
        return Double(flops) * Double(runs) / elapsedSeconds / 1e9
    }

    /// Returns `a · b` by the i-k-j triple loop, the order whose inner loop runs along rows.
    static func plainProduct(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for p in 0..<k {
                let left = a.scalars[i * k + p]
                for j in 0..<n { c[i * n + j] += left * b.scalars[p * n + j] }
            }
        }
        return Tensor(shape: [m, n], scalars: c)
    }

    static func filledTensor(_ shape: [Int], seed: UInt64) -> Tensor {
        var generator = RandomGenerator(seed: seed)
        return Initializer.uniform(low: -1, high: 1).makeTensor(shape: shape, generator: &generator)
    }

    static func format(_ value: Double) -> String {
        String(Double((value * 10).rounded()) / 10)
    }
}
