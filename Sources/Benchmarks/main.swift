import Foundation
import TensorCore

/// The OpenBLAS kernel family in effect, for benchmark headers.
enum BLASInfo {
    static var coreName: String { BLAS.coreName }
}

let usage = """
    usage: trainer-bench <benchmark> [options]

    benchmarks:
      gemm        GFLOP/s of the matmul path beside a plain Swift loop  [--seconds S]
      allreduce   ring allreduce against MPI_Allreduce (run under mpirun)  [--check] [--floats 1M,16M] [--repetitions N]
      train       training samples/s, time per step phase, peak memory  [--config FILE] [--data-dir DIR] [--steps N] [--warmup N] [--threads N] [--products N]
      embeddings  the same on generated data with a 100M-row table  [--context-ids N] [--rows N] [--dimension D] [--model NAME] [--steps N]
      prepare     seconds to prepare a config's data without the cache, by phase  [--config FILE] [--data-dir DIR] [--repetitions N] [--cache-dir DIR]
      startup     seconds from process start to the end of the first step (run twice: warm cache)  [--config FILE] [--cache-dir DIR]
    """

Allocator.configureForTraining()
let arguments = Array(CommandLine.arguments.dropFirst())
guard let name = arguments.first else {
    FileHandle.standardError.write(Data(("trainer-bench: missing benchmark name\n\n" + usage + "\n").utf8))
    exit(2)
}
let rest = Array(arguments.dropFirst())
// Each benchmark's options are listed in the usage; allreduce also prints its own help.
if name != "allreduce", rest.contains("--help") || rest.contains("-h") {
    print(usage)
    exit(0)
}
do {
    switch name {
    case "gemm": try GEMMBenchmark.run(arguments: rest)
    case "allreduce": try AllreduceBenchmark.run(arguments: rest)
    case "train": try TrainingBenchmark.run(arguments: rest)
    case "embeddings": try TrainingBenchmark.runLargeTable(arguments: rest)
    case "prepare": try PrepareBenchmark.run(arguments: rest)
    case "startup": try StartupBenchmark.run(arguments: rest)
    case "--help", "-h", "help": print(usage)
    default:
        FileHandle.standardError.write(Data(("trainer-bench: unknown benchmark \"\(name)\"\n\n" + usage + "\n").utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("trainer-bench \(name): \(error)\n".utf8))
    exit(1)
}
