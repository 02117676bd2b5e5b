import Foundation

/// Faults that tests and `launch/fault-injection.sh` inject through environment variables.
/// Test-only: production runs leave the variables unset, and then no hook does anything.
/// Steps count from 1, as in the step names of checkpoints (`step-<N>` is the state after N steps).
public struct TestHooks: Sendable, Equatable {
    /// `K` puts a NaN into the first task's loss on the highest rank in step K;
    /// `K:gradient` puts it into the gradient of the first dense parameter instead.
    public static let nanAtStepVariable = "TRAINER_TEST_NAN_AT_STEP"
    /// `R:K` makes rank R kill its own process with SIGKILL when step K starts.
    public static let killAtStepVariable = "TRAINER_TEST_SIGKILL_AT_STEP"
    /// `K` sends rank 0's checkpoint writes of step K to /dev/full, so they fail with ENOSPC as
    /// on a full disk.
    public static let diskFullAtStepVariable = "TRAINER_TEST_DISK_FULL_AT_STEP"
    /// `MS` makes every rank sleep this many milliseconds before each step, so a test can
    /// signal a run of small steps before it ends, however fast the machine is.
    public static let stepDelayVariable = "TRAINER_TEST_STEP_DELAY_MS"

    public enum NaNTarget: Sendable, Equatable {
        case loss
        case gradient
    }

    public var nanAtStep: (step: Int, target: NaNTarget)?
    public var killAtStep: (rank: Int, step: Int)?
    public var diskFullAtStep: Int?
    public var stepDelayMilliseconds: Int?

    public init() {}

    /// Reads the hooks from `environment`; a malformed value stops the run, naming the variable.
    public init(environment: [String: String]) throws {
        if let text = environment[Self.nanAtStepVariable] {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard let step = Int(parts[0]), step >= 1, parts.count <= 2,
                  parts.count == 1 || parts[1] == "gradient" || parts[1] == "loss" else {
                throw TrainerError.invalidTestHook(variable: Self.nanAtStepVariable, value: text, expected: "K or K:gradient")
            }
            nanAtStep = (step, parts.count == 2 && parts[1] == "gradient" ? .gradient : .loss)
        }
        if let text = environment[Self.killAtStepVariable] {
            let parts = text.split(separator: ":").compactMap { Int($0) }
            guard parts.count == 2, parts[0] >= 0, parts[1] >= 1 else {
                throw TrainerError.invalidTestHook(variable: Self.killAtStepVariable, value: text, expected: "RANK:K")
            }
            killAtStep = (parts[0], parts[1])
        }
        if let text = environment[Self.diskFullAtStepVariable] {
            guard let step = Int(text), step >= 1 else {
                throw TrainerError.invalidTestHook(variable: Self.diskFullAtStepVariable, value: text, expected: "K")
            }
            diskFullAtStep = step
        }
        if let text = environment[Self.stepDelayVariable] {
            guard let milliseconds = Int(text), milliseconds >= 0 else {
                throw TrainerError.invalidTestHook(variable: Self.stepDelayVariable, value: text, expected: "MS")
            }
            stepDelayMilliseconds = milliseconds
        }
    }

    public static func == (left: TestHooks, right: TestHooks) -> Bool {
        left.nanAtStep?.step == right.nanAtStep?.step && left.nanAtStep?.target == right.nanAtStep?.target
            && left.killAtStep?.rank == right.killAtStep?.rank && left.killAtStep?.step == right.killAtStep?.step
            && left.diskFullAtStep == right.diskFullAtStep && left.stepDelayMilliseconds == right.stepDelayMilliseconds
    }
}
