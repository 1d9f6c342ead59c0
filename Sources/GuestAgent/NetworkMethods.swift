#if canImport(Glibc)
import Glibc
#endif
import GuestNetwork
import GuestProto
import GuestSys
import TTRPC

/// The network RPCs of guestkit.v1.Agent, served by GuestNetwork: each one call, with its errors turned
/// into AgentError here (a malformed request is INVALID_ARGUMENT, one that does not fit the guest's network
/// FAILED_PRECONDITION, a kernel refusal by its errno).
enum NetworkMethods {
    static func register(in methods: inout MethodTable<ClientConnection>, service: String) {
        methods.register(service: service, method: "ConfigureInterface") { (request: Guestkit_V1_ConfigureInterfaceRequest, _, _) in
            var response = Guestkit_V1_ConfigureInterfaceResponse()
            response.interface = try edge { () throws(NetworkError) in try InterfaceConfiguration.configure(request) }
            return response
        }
        methods.register(service: service, method: "AddRoutes") { (request: Guestkit_V1_AddRoutesRequest, _, _) in
            try edge { () throws(NetworkError) in try RouteConfiguration.add(request) }
            return Guestkit_V1_AddRoutesResponse()
        }
        methods.register(service: service, method: "AddNeighbors") { (request: Guestkit_V1_AddNeighborsRequest, _, _) in
            try edge { () throws(NetworkError) in try NeighborConfiguration.add(request) }
            return Guestkit_V1_AddNeighborsResponse()
        }
        methods.register(service: service, method: "ListInterfaces") { (_: Guestkit_V1_ListInterfacesRequest, _, _) in
            var response = Guestkit_V1_ListInterfacesResponse()
            response.interfaces = try edge { () throws(NetworkError) in try NetworkListing.interfaces() }
            return response
        }
        methods.register(service: service, method: "ListRoutes") { (_: Guestkit_V1_ListRoutesRequest, _, _) in
            var response = Guestkit_V1_ListRoutesResponse()
            response.routes = try edge { () throws(NetworkError) in try NetworkListing.routes() }
            return response
        }
        methods.register(service: service, method: "ListNeighbors") { (_: Guestkit_V1_ListNeighborsRequest, _, _) in
            var response = Guestkit_V1_ListNeighborsResponse()
            response.neighbors = try edge { () throws(NetworkError) in try NetworkListing.neighbors() }
            return response
        }
        methods.register(service: service, method: "WriteNetworkFiles") { (request: Guestkit_V1_WriteNetworkFilesRequest, _, _) in
            try edge { () throws(NetworkError) in try NetworkFiles.write(request) }
        }
    }

    /// Runs a GuestNetwork call; its error becomes the AgentError that names the same failure.
    static func edge<Result>(_ body: () throws(NetworkError) -> Result) throws(AgentError) -> Result {
        do throws(NetworkError) { return try body() } catch { throw agentError(error) }
    }

    static func agentError(_ error: NetworkError) -> AgentError {
        switch error {
        case .invalidArgument(let message): return .invalidRequest(message)
        case .failedPrecondition(let message): return .failedPrecondition(message)
        case .system(let sysError): return .system(sysError)
        case .kernel(_, let code, _): return kernelRefusal(error.description, code: code)
        case .undoFailed(let first, _):
            // The network may be left changed: never reported as a mere bad request.
            if case .kernel(_, let code, _) = first { return .system(SysError("netlink", [error.description], code: code)) }
            return .system(SysError("netlink", [error.description], code: Errno.EIO))
        }
    }

    /// A kernel refusal by its errno: what the request got wrong, what the network lacks, or the rest.
    static func kernelRefusal(_ message: String, code: Int32) -> AgentError {
        switch code {
        case EINVAL, ERANGE, EAFNOSUPPORT, EOPNOTSUPP, E2BIG:
            return .invalidRequest(message)
        case ENETUNREACH, EHOSTUNREACH, ENETDOWN, EADDRNOTAVAIL, EEXIST, ENODEV, EBUSY, ESRCH, ENOENT, EACCES:
            return .failedPrecondition(message)
        default:
            return .system(SysError("netlink", [message], code: code))
        }
    }
}
