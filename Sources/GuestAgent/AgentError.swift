import GuestContainer
import GuestSys
import TTRPC

/// Everything a request can fail with, in the agent's own terms. `AgentError.status(of:)` is the one place
/// these become gRPC status codes.
enum AgentError: Error, CustomStringConvertible {
    case invalidRequest(String)
    case noSuchProcess(String)
    case noSuchContainer(String)
    /// A program name not found in any PATH entry, or a path with no file behind it.
    case programNotFound(program: String, searched: String?)
    case programNotExecutable(String)
    case noSuchUser(String)
    case noSuchGroup(String)
    case alreadyExists(String)
    case failedPrecondition(String)
    case unavailable(String)
    /// A limit of the agent's (connections, processes, parked calls) is reached.
    case resourceExhausted(String)
    /// The child could not get to exec (chdir, setuid, execve…).
    case spawn(SpawnError, workingDirectory: String)
    case system(SysError)
    /// The container engine refused a spec (INVALID_ARGUMENT) or a step failed.
    case container(ContainerError)

    var description: String {
        switch self {
        case .invalidRequest(let m), .alreadyExists(let m), .failedPrecondition(let m), .unavailable(let m),
             .resourceExhausted(let m):
            return m
        case .noSuchProcess(let id): return "no process \"\(id)\""
        case .noSuchContainer(let id): return "no container \"\(id)\""
        case .programNotFound(let program, let searched?):
            return "executable \"\(program)\" not found in PATH \(searched)"
        case .programNotFound(let program, nil):
            return "no executable file at \(program)"
        case .programNotExecutable(let path): return "\(path) is not executable (permission denied)"
        case .noSuchUser(let name): return "no user \"\(name)\" in the guest's /etc/passwd"
        case .noSuchGroup(let name): return "no group \"\(name)\" in the guest's /etc/group"
        case .spawn(let error, let cwd):
            if error.step == "chdir" {
                return "cannot start \(error.path): working directory \(cwd): \(Errno.name(error.code)) (\(Errno.message(error.code)))"
            }
            return error.description
        case .system(let error): return error.description
        case .container(let error): return error.description
        }
    }

    /// The edge: any error a handler throws, as the status the host sees.
    static func status(of error: any Error) -> RPCError {
        guard let error = error as? AgentError else {
            if let error = error as? SysError { return status(of: AgentError.system(error)) }
            return RPCError(.internal, "\(error)")
        }
        let code: StatusCode
        switch error {
        case .invalidRequest: code = .invalidArgument
        case .noSuchProcess, .noSuchContainer, .programNotFound, .noSuchUser, .noSuchGroup: code = .notFound
        case .programNotExecutable: code = .permissionDenied
        case .alreadyExists: code = .alreadyExists
        case .failedPrecondition: code = .failedPrecondition
        case .unavailable: code = .unavailable
        case .resourceExhausted: code = .resourceExhausted
        case .spawn(let spawnError, _): code = statusCode(errno: spawnError.code)
        case .system(let sysError): code = statusCode(errno: sysError.code)
        case .container(.invalidSpec): code = .invalidArgument
        case .container(.step(_, let sysError)): code = statusCode(errno: sysError.code)
        case .container(.failed): code = .failedPrecondition
        case .container(.reported(_, _, invalidSpec: true)): code = .invalidArgument
        case .container(.reported(_, let errno, _)): code = errno == 0 ? .failedPrecondition : statusCode(errno: errno)
        }
        return RPCError(code, error.description)
    }

    private static func statusCode(errno code: Int32) -> StatusCode {
        switch code {
        case Errno.ENOENT, Errno.ENOTDIR, Errno.ESRCH: return .notFound
        case Errno.EACCES, Errno.EPERM: return .permissionDenied
        case Errno.EINVAL, Errno.ENOEXEC, 7 /* E2BIG */, 40 /* ELOOP */, 36 /* ENAMETOOLONG */: return .invalidArgument
        case Errno.EAGAIN, Errno.ENOMEM, 23 /* ENFILE */, 24 /* EMFILE */: return .resourceExhausted
        case Errno.EEXIST: return .alreadyExists
        default: return .internal
        }
    }
}
