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
    /// What the container's init reported from inside: its message, the errno behind it (0: none), and
    /// whether it was a spec the init refused.
    case reported(String, code: Int32, invalidSpec: Bool)

    public var description: String {
        switch self {
        case .invalidSpec(let error): return error.description
        case .step(let step, let error): return "\(step): \(error.name) (\(Errno.message(error.code)))"
        case .failed(let message): return message
        case .reported(let message, _, _): return message
        }
    }

    /// The report the container's init sends its parent: kind ("I" invalid spec, "S" a step's errno, "F"
    /// other), errno, and the message, as "S2:mount proc on /proc: …".
    var report: String {
        switch self {
        case .invalidSpec: return "I0:" + description
        case .step(_, let error): return "S\(error.code):" + description
        case .failed: return "F0:" + description
        case .reported(_, let code, let invalid): return (invalid ? "I" : code != 0 ? "S" : "F") + "\(code):" + description
        }
    }

    /// Reads a report back (anything unexpected becomes a plain failure with the whole text).
    static func reported(_ text: String) -> ContainerError {
        guard let kind = text.first, "ISF".contains(kind), let colon = text.firstIndex(of: ":"),
              let code = Int32(text[text.index(after: text.startIndex)..<colon]) else { return .failed(text) }
        return .reported(String(text[text.index(after: colon)...]), code: code, invalidSpec: kind == "I")
    }
}
