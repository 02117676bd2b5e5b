import COpenBLAS
#if canImport(Glibc)
import Glibc
#endif

/// OpenBLAS, opened at run time so that its kernel family can be chosen first.
///
/// Debian's OpenBLAS 0.3.21 is built with DYNAMIC_ARCH and picks its kernels from the CPU id in a
/// load-time constructor. On CPUs newer than that release it falls back to a slow generic family
/// (about 5x slower here), unless `OPENBLAS_CORETYPE` names one. `BLAS` sets that variable from
/// the CPU's vector extensions (a value already in the environment wins) and only then opens the
/// library. It also sets one BLAS thread unless `OPENBLAS_NUM_THREADS` is set, because every MPI
/// rank already occupies a core.
public enum BLAS {
    /// Environment variable that names the OpenBLAS kernel family.
    public static let coreTypeVariable = "OPENBLAS_CORETYPE"
    /// Environment variable that sets the number of OpenBLAS threads.
    public static let threadCountVariable = "OPENBLAS_NUM_THREADS"
    /// Environment variable that sets how long, 2^N cycles, an idle OpenBLAS thread spins.
    public static let threadTimeoutVariable = "OPENBLAS_THREAD_TIMEOUT"

    /// The library files tried, in order.
    static let libraryNames = ["libopenblas.so.0", "libopenblas.so"]

    final class Library: @unchecked Sendable {  // Immutable after the one-time load below.
        let sgemm: copenblas_sgemm_fn
        let setThreadCount: copenblas_set_num_threads_fn?
        let coreName: String
        let chosenCoreType: String?

        init() {
            let chosen = BLAS.chooseCoreType()
            var handle: UnsafeMutableRawPointer?
            var errors: [String] = []
            for name in BLAS.libraryNames {
                handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL)
                if handle != nil { break }
                errors.append(String(cString: dlerror()))
            }
            guard let handle else {
                fatalError("cannot open OpenBLAS (\(errors.joined(separator: "; "))); install libopenblas-dev")
            }
            guard let sgemmSymbol = dlsym(handle, "cblas_sgemm") else {
                fatalError("OpenBLAS has no cblas_sgemm symbol")
            }
            sgemm = unsafeBitCast(sgemmSymbol, to: copenblas_sgemm_fn.self)
            setThreadCount = dlsym(handle, "openblas_set_num_threads").map {
                unsafeBitCast($0, to: copenblas_set_num_threads_fn.self)
            }
            if let symbol = dlsym(handle, "openblas_get_corename"),
               let name = unsafeBitCast(symbol, to: copenblas_get_corename_fn.self)() {
                coreName = String(cString: name)
            } else {
                coreName = "unknown"
            }
            chosenCoreType = chosen
        }
    }

    static let library = Library()

    /// Sets `OPENBLAS_CORETYPE` (unless already set) and `OPENBLAS_NUM_THREADS` (unless already
    /// set) before the library loads. Returns the core type it set, or nil when it left it alone.
    static func chooseCoreType() -> String? {
        if getenv(threadCountVariable) == nil {
            setenv(threadCountVariable, "1", 0)
        }
        // An idle OpenBLAS thread spins for 2^N cycles before it sleeps. With the long default it
        // held a core that the other kernel thread needed at `train.threads` 2, so PEPNet swung
        // between 26k and 35k samples/s from run to run. At 2^4 it sleeps almost at once.
        // NOTE: the slow mode still appeared in 1 of 6 runs afterwards; its cause is not known.
        if getenv(threadTimeoutVariable) == nil {
            setenv(threadTimeoutVariable, "4", 0)
        }
        if getenv(coreTypeVariable) != nil {
            return nil
        }
        guard let coreType = coreType(for: copenblas_detect_cpu()) else { return nil }
        setenv(coreTypeVariable, coreType, 0)
        return coreType
    }

    /// Maps CPU features to the OpenBLAS 0.3.21 kernel family that uses them, or nil to let
    /// OpenBLAS decide (CPUs without AVX, where its own detection is right).
    static func coreType(for cpu: copenblas_cpu_features) -> String? {
        if cpu.avx512f != 0 && cpu.avx512bw != 0 && cpu.avx512dq != 0 && cpu.avx512vl != 0 {
            return "SKYLAKEX"
        }
        if cpu.avx2 != 0 && cpu.fma != 0 {
            return "HASWELL"
        }
        if cpu.avx != 0 {
            return "SANDYBRIDGE"
        }
        return nil
    }

    /// The kernel family OpenBLAS reports after loading, such as `SkylakeX`.
    public static var coreName: String { library.coreName }

    /// The `OPENBLAS_CORETYPE` value in effect after loading, whether set by `BLAS` or by the
    /// environment, or nil when OpenBLAS picked its kernels from the CPU id alone.
    public static var coreTypeInEffect: String? {
        _ = library
        return getenv(coreTypeVariable).map { String(cString: $0) }
    }

    /// Whether `BLAS` set `OPENBLAS_CORETYPE` itself (false when the environment already had it,
    /// or when the CPU has no AVX and OpenBLAS decides).
    public static var choseCoreType: Bool { library.chosenCoreType != nil }

    /// Sets the number of threads OpenBLAS uses for one call.
    public static func setThreadCount(_ count: Int) {
        library.setThreadCount?(Int32(count))
    }

    /// Computes `c = alpha · op(a) · op(b) + beta · c` for row-major matrices, where `op` transposes
    /// when asked. `op(a)` is `[m, k]`, `op(b)` is `[k, n]` and `c` is `[m, n]`.
    @inline(__always)
    public static func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                             alpha: Float, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if GEMMLog.isRecording {
            GEMMLog.record(GEMMShape(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k))
        }
        library.sgemm(Int32(COPENBLAS_ROW_MAJOR),
                      Int32(transposeA ? COPENBLAS_TRANS : COPENBLAS_NO_TRANS),
                      Int32(transposeB ? COPENBLAS_TRANS : COPENBLAS_NO_TRANS),
                      Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
