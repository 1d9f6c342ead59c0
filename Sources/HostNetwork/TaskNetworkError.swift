import GuestClient
import GuestNetwork

/// Why a container's network could not be carried into its VM, or taken down.
public enum TaskNetworkError: Error, CustomStringConvertible, Sendable {
    /// The namespace path cannot be opened or entered.
    case namespace(String, String)
    /// Reading or changing the namespace's interfaces failed (netlink).
    case network(String, NetworkError)
    /// A tc command for the redirects failed.
    case trafficControl(command: String, output: String)
    /// The namespace does not fit: it is carried into another VM already, or holds what cannot be carried.
    case unsupported(String)
    /// The guest's agent refused or failed a configuration call.
    case guest(String, GuestClientError)

    public var description: String {
        switch self {
        case .namespace(let path, let why): return "network namespace \(path): \(why)"
        case .network(let what, let error): return "\(what): \(error)"
        case .trafficControl(let command, let output): return "\(command) failed: \(output)"
        case .unsupported(let why): return why
        case .guest(let what, let error): return "configuring the guest's network (\(what)): \(error)"
        }
    }
}
