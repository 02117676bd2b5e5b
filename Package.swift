// swift-tools-version:6.0
// A data-parallel trainer for multi-scene, multi-task CTR models.
//
// Modules, lowest layer first (each depends only on the ones above it):
//   CMPI, COpenBLAS,    C shims over Open MPI, OpenBLAS (Debian -dev packages) and glibc's
//   CMalloc             allocator settings
//   Configuration       strict JSON decoding shared by every config section
//   TensorCore          Float32 tensors, reverse-mode tape, BLAS, optimizers
//   Models              layers and the ranking models (PEPNet, MLP, ...)
//   DataPipeline        CSV reading, joins, feature encoding, prepared binary data, generator
//   Communication       communicators (MPI and in-process threads), ring allreduce
//   Training            training loop, evaluation metrics, run directory, logging
//   TrainerCommand      the `trainer` executable
import PackageDescription

// Release builds keep preconditions (-O, not -Ounchecked): an out-of-range id must stop the run, not
// read past a table. Float.squareRoot() is a C inline function from the standard library's shims,
// and without -fno-math-errno it calls sqrtf to set errno for negative inputs, which keeps every
// square root scalar. With the flag, Adam's square roots use sqrtps, which rounds the same way.
let optimize: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked", "-Xcc", "-fno-math-errno"],
                                             .when(configuration: .release))]

let package = Package(
    name: "MultiSceneTrainer",
    products: [
        .executable(name: "trainer", targets: ["TrainerCommand"]),
        .executable(name: "trainer-bench", targets: ["Benchmarks"]),
    ],
    targets: [
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        // Header only, and deliberately without pkgConfig, whose "-lopenblas" would load the
        // library at process start: OpenBLAS is opened with dlopen after OPENBLAS_CORETYPE and
        // OPENBLAS_NUM_THREADS are set, because it reads both once, in its load-time constructor.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", providers: [.apt(["libopenblas-dev"])]),
        // Header only: glibc's mallopt, which the Glibc module does not export.
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        .target(name: "TensorCore", dependencies: ["COpenBLAS", "CMalloc"], swiftSettings: optimize,
                linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "Configuration", swiftSettings: optimize),
        .target(name: "Models", dependencies: ["TensorCore", "Configuration"], swiftSettings: optimize),
        .target(name: "DataPipeline", dependencies: ["Configuration"], swiftSettings: optimize),
        .target(name: "Communication", dependencies: ["CMPI"], swiftSettings: optimize),
        .target(name: "Training", dependencies: ["TensorCore", "Models", "DataPipeline", "Communication"],
                swiftSettings: optimize),
        .executableTarget(name: "TrainerCommand", dependencies: ["Training"], swiftSettings: optimize),
        .executableTarget(name: "Benchmarks", dependencies: ["Training"], swiftSettings: optimize),

        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models"]),
        .testTarget(name: "DataPipelineTests", dependencies: ["DataPipeline"]),
        .testTarget(name: "CommunicationTests", dependencies: ["Communication"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "TensorCore", "Models", "Communication"]),
        .testTarget(name: "EndToEndTests", dependencies: ["Training", "DataPipeline", "Models", "Communication"]),
    ],
    swiftLanguageModes: [.v5]
)
