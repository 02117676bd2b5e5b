import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The last SIGTERM or SIGINT this process received, 0 before any. An atomic store is
/// async-signal-safe, unlike anything that locks or allocates.
private let receivedStopSignal = Atomic<Int32>(0)

/// SIGTERM and SIGINT, as schedulers send them on preemption and as Ctrl-C sends them, turned
/// into a request to stop at the next step boundary.
///
/// The handler only records the signal. Each step carries the record through the gradient
/// allreduce (`StepFlags`), so every rank stops after the same step and writes the final
/// checkpoint together. A second signal does not end the process sooner.
public enum StopSignal {
    /// Installs the handler for SIGTERM and SIGINT in this process. Call it after MPI starts,
    /// so no handler that the MPI library installs replaces it; calling it again is harmless.
    public static func install() {
        // Touching the atomic first initializes the global outside the handler.
        _ = receivedStopSignal.load(ordering: .relaxed)
        let handler: @convention(c) (Int32) -> Void = { signal in
            receivedStopSignal.store(signal, ordering: .relaxed)
        }
        signal(SIGTERM, handler)
        signal(SIGINT, handler)
    }

    /// SIGTERM or SIGINT once received, else 0.
    public static var received: Int32 {
        receivedStopSignal.load(ordering: .relaxed)
    }

    /// Forgets a received signal, so in-process tests can run one stop after another.
    public static func reset() {
        receivedStopSignal.store(0, ordering: .relaxed)
    }

    /// Returns the exit status that reports a stop on `signal`: 128 plus the signal number, as
    /// shells report a process that a signal ended (143 for SIGTERM, 130 for SIGINT).
    public static func exitStatus(_ signal: Int32) -> Int32 {
        128 + signal
    }

    /// `SIGTERM`, `SIGINT`, or the number of another signal.
    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT"
        default: return "signal \(signal)"
        }
    }
}
