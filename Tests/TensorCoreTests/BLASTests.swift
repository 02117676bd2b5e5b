import COpenBLAS
import Dispatch
import XCTest
@testable import TensorCore

final class BLASTests: XCTestCase {
    func features(avx: Int32 = 0, avx2: Int32 = 0, fma: Int32 = 0, avx512: Int32 = 0) -> copenblas_cpu_features {
        copenblas_cpu_features(avx: avx, avx2: avx2, fma: fma, avx512f: avx512, avx512bw: avx512,
                               avx512dq: avx512, avx512vl: avx512)
    }

    func testCoreTypeForFeatureSets() {
        XCTAssertEqual(BLAS.coreType(for: features(avx: 1, avx2: 1, fma: 1, avx512: 1)), "SKYLAKEX")
        XCTAssertEqual(BLAS.coreType(for: features(avx: 1, avx2: 1, fma: 1)), "HASWELL")
        XCTAssertEqual(BLAS.coreType(for: features(avx: 1)), "SANDYBRIDGE")
        XCTAssertNil(BLAS.coreType(for: features()))
    }

    func testPartialAVX512FallsBackToHaswell() {
        var cpu = features(avx: 1, avx2: 1, fma: 1, avx512: 1)
        cpu.avx512vl = 0
        XCTAssertEqual(BLAS.coreType(for: cpu), "HASWELL")
    }

    func testLibraryLoadsAndNamesCore() {
        XCTAssertFalse(BLAS.coreName.isEmpty)
        XCTAssertNotEqual(BLAS.coreName, "unknown")
    }

    func testSgemmSmallProduct() {
        // [[1, 2], [3, 4]] · [[5, 6], [7, 8]] = [[19, 22], [43, 50]].
        let a: [Float] = [1, 2, 3, 4]
        let b: [Float] = [5, 6, 7, 8]
        var c = [Float](repeating: 0, count: 4)
        BLAS.sgemm(transposeA: false, transposeB: false, m: 2, n: 2, k: 2, alpha: 1, a: a, lda: 2, b: b, ldb: 2,
                   beta: 0, c: &c, ldc: 2)
        XCTAssertEqual(c, [19, 22, 43, 50])
    }

    func testConcurrentMatmulsOnThreads() {
        // Ranks run as threads, each with its own graph; their products must not interfere.
        let (m, n, k) = (64, 48, 96)
        let threadCount = 4
        let a = (0..<threadCount).map { randomTensor([m, k], seed: 200 + UInt64($0)) }
        let b = randomTensor([k, n], seed: 210)
        let expected = a.map { referenceMatmul($0.scalars.map(Double.init), b.scalars.map(Double.init), m: m, n: n, k: k) }
        var worst = [Double](repeating: .infinity, count: threadCount)
        worst.withUnsafeMutableBufferPointer { results in
            DispatchQueue.concurrentPerform(iterations: threadCount) { thread in
                var largest = 0.0
                for _ in 0..<50 {
                    let graph = Graph()
                    let product = matmul(graph.constant(a[thread]), graph.constant(b))
                    for (actual, want) in zip(product.value.scalars, expected[thread]) {
                        largest = max(largest, abs(Double(actual) - want))
                    }
                }
                results[thread] = largest
            }
        }
        for thread in 0..<threadCount {
            XCTAssertLessThan(worst[thread], 1e-4, "thread \(thread)")
        }
    }
}
