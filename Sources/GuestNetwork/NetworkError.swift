import GuestSys

/// Why a network request was refused or failed. The agent turns these into status codes in one place
/// (invalid argument: the request is malformed; failed precondition: it does not fit the guest's network).
public enum NetworkError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A name, address, MAC or number in the request that does not parse or is out of range.
    case invalidArgument(String)
    /// A well-formed request that does not fit the guest's network as it is: an unknown interface, an
    /// unreachable gateway, a route that exists already.
    case failedPrecondition(String)
    /// A netlink request the kernel refused: what was asked, the errno and the kernel's own message.
    case kernel(operation: String, code: Int32, message: String?)
    /// A system call outside netlink (the socket itself, a file) failed.
    case system(SysError)
    /// A change failed half-way and taking back what was already done failed too: the guest's network may
    /// differ from before the request. Carries the first failure and every undo step that failed.
    indirect case undoFailed(NetworkError, [String])

    public var description: String {
        switch self {
        case .invalidArgument(let message), .failedPrecondition(let message): return message
        case .kernel(let operation, let code, let message):
            return "\(operation): \(Errno.name(code)) (\(Errno.message(code)))" + (message.map { ": the kernel says \"\($0)\"" } ?? "")
        case .system(let error): return error.description
        case .undoFailed(let error, let failures):
            return "\(error); undoing the steps already made failed too, the network may be left changed: "
                + failures.joined(separator: "; ")
        }
    }
}
