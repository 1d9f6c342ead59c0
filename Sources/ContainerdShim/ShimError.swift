import GuestClient
import GuestSys
import TTRPC

/// Everything the shim can fail with. `status(of:)` is the one place these become the gRPC codes
/// containerd maps to its errdefs (NotFound, AlreadyExists, FailedPrecondition, NotImplemented, …).
public enum ShimError: Error, CustomStringConvertible, Sendable {
    /// A bad command line (the text is the message, usage included).
    case usage(String)
    /// `-v`: print the version.
    case version
    case invalidArgument(String)
    case notFound(String)
    case alreadyExists(String)
    case failedPrecondition(String)
    case unimplemented(String)
    case deadlineExceeded(String)
    /// The guest, its agent or the VMM failed us (the message says which and what it said).
    case guest(String)
    case system(String)

    public var description: String {
        switch self {
        case .usage(let m), .invalidArgument(let m), .notFound(let m), .alreadyExists(let m),
             .failedPrecondition(let m), .unimplemented(let m), .deadlineExceeded(let m), .guest(let m),
             .system(let m):
            return m
        case .version: return "containerd-shim-guestkit-v1 \(ShimVersion.text)"
        }
    }

    static func system(_ error: SysError) -> ShimError { .system(error.description) }

    /// An agent error as the shim reports it: the agent's own status code kept, its message prefixed.
    static func agent(_ what: String, _ error: GuestClientError) -> ShimError {
        let message = "\(what): \(error)"
        switch error.statusCode {
        case .notFound?: return .notFound(message)
        case .alreadyExists?: return .alreadyExists(message)
        case .invalidArgument?: return .invalidArgument(message)
        case .failedPrecondition?: return .failedPrecondition(message)
        case .unimplemented?: return .unimplemented(message)
        case .deadlineExceeded?: return .deadlineExceeded(message)
        default: return .guest(message)
        }
    }

    /// The edge: any error a Task handler throws, as the status containerd sees.
    static func status(of error: any Error) -> RPCError {
        guard let error = error as? ShimError else { return RPCError(.internal, "\(error)") }
        let code: StatusCode
        switch error {
        case .usage, .invalidArgument: code = .invalidArgument
        case .notFound: code = .notFound
        case .alreadyExists: code = .alreadyExists
        case .failedPrecondition: code = .failedPrecondition
        case .unimplemented: code = .unimplemented
        case .deadlineExceeded: code = .deadlineExceeded
        case .guest: code = .unavailable
        case .system, .version: code = .internal
        }
        return RPCError(code, error.description)
    }
}

/// The shim's version, as Connect reports it.
public enum ShimVersion {
    public static let text = "0.1.0"
}
