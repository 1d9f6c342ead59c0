import GuestJSON
import GuestSys

/// Why a container could not be created, started or changed. `invalidSpec` is the caller's mistake
/// (INVALID_ARGUMENT); the others name the step and the path that failed: `mount proc on /proc: EPERM`.
public enum ContainerError: Error, Sendable, CustomStringConvertible {
    case invalidSpec(SpecError)
    /// A system call failed during a named step.
    case step(String, SysError)
    /// A step failed for a reason that is not one errno.
    case failed(String)

    public var description: String {
        switch self {
        case .invalidSpec(let error): return error.description
        case .step(let step, let error): return "\(step): \(error.name) (\(Errno.message(error.code)))"
        case .failed(let message): return message
        }
    }
}
