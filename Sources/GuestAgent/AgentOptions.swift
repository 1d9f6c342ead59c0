import GuestSys

/// guest-agent's command line: where to listen and where guest-init's boot timeline is.
public struct AgentOptions: Equatable, Sendable {
    public static let defaultPort: UInt32 = 1024
    public static let defaultBootFile = "/run/guest/boot.json"
    public static let defaultMaximumConnections = 1024
    public static let usage = """
        usage: guest-agent [--port N | --listen unix:PATH | --listen vsock:PORT] [--boot-file PATH]
                           [--allow-cid N]... [--max-connections N]
          --port N             listen on AF_VSOCK, any CID, port N (default 1024)
          --listen ADDRESS     unix:PATH (a host or a test; created 0600) or vsock:PORT
          --boot-file PATH     guest-init's boot timeline (default /run/guest/boot.json)
          --allow-cid N        over vsock, accept connections from CID N (repeatable; default 2, the host)
          --max-connections N  ttRPC connections served at once; more get RESOURCE_EXHAUSTED (default 1024)
        """

    public var address: SocketAddress = .vsock(cid: SocketAddress.anyCID, port: defaultPort)
    public var bootFile: String = defaultBootFile
    /// Over vsock, the peers allowed to connect: only the host unless told otherwise. Anything in the
    /// guest that can reach the agent could run processes as root, so a guest-local peer is refused.
    public var allowedCIDs: Set<UInt32> = [SocketAddress.hostCID]
    public var maximumConnections = defaultMaximumConnections
    public var limits = AgentLimits()

    public init() {}

    /// Parses the arguments after the program name. Throws a message naming the bad argument.
    public init(arguments: [String]) throws(AgentOptionsError) {
        var rest = arguments[...]
        func value(_ flag: String, _ inline: String?) throws(AgentOptionsError) -> String {
            if let inline { return inline }
            guard let v = rest.popFirst() else { throw AgentOptionsError("\(flag) needs a value") }
            return v
        }
        var sawPort = false
        var sawListen = false
        var sawAllowCID = false
        while let argument = rest.popFirst() {
            var flag = argument
            var inline: String?
            if argument.hasPrefix("--"), let eq = argument.firstIndex(of: "=") {
                flag = String(argument[..<eq])
                inline = String(argument[argument.index(after: eq)...])
            }
            switch flag {
            case "--port":
                let text = try value(flag, inline)
                guard let port = UInt32(text) else { throw AgentOptionsError("--port \(text): not a port number") }
                address = .vsock(cid: SocketAddress.anyCID, port: port)
                sawPort = true
            case "--listen":
                address = try Self.parseAddress(try value(flag, inline))
                sawListen = true
            case "--boot-file":
                bootFile = try value(flag, inline)
            case "--allow-cid":
                let text = try value(flag, inline)
                guard let cid = UInt32(text), cid != SocketAddress.anyCID else {
                    throw AgentOptionsError("--allow-cid \(text): not a vsock CID")
                }
                if !sawAllowCID { allowedCIDs = [] }
                allowedCIDs.insert(cid)
                sawAllowCID = true
            case "--max-connections":
                let text = try value(flag, inline)
                guard let count = Int(text), count >= 1, count <= 1 << 20 else {
                    throw AgentOptionsError("--max-connections \(text): expected 1 to 1048576")
                }
                maximumConnections = count
            case "--help", "-h":
                throw AgentOptionsError(Self.usage, isHelp: true)
            default:
                throw AgentOptionsError("unknown argument \"\(argument)\"\n" + Self.usage)
            }
        }
        if sawPort && sawListen { throw AgentOptionsError("give --port or --listen, not both") }
    }

    /// "unix:/run/agent.sock" or "vsock:1024".
    static func parseAddress(_ text: String) throws(AgentOptionsError) -> SocketAddress {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw AgentOptionsError("--listen \(text): the Unix socket path is empty") }
            return .unix(path)
        }
        if text.hasPrefix("vsock:") {
            guard let port = UInt32(text.dropFirst(6)) else { throw AgentOptionsError("--listen \(text): not a vsock port") }
            return .vsock(cid: SocketAddress.anyCID, port: port)
        }
        throw AgentOptionsError("--listen \(text): expected unix:PATH or vsock:PORT")
    }
}

/// How much the agent holds for hosts that do not clean up after themselves. Past each limit the request
/// that would go beyond it gets RESOURCE_EXHAUSTED saying which limit and what to do, instead of the
/// agent running out of descriptors or memory.
public struct AgentLimits: Equatable, Sendable {
    /// Processes in the table, running or exited and not yet waited for.
    public var processes = 2048
    /// Exited processes nobody has collected with WaitProcess.
    public var exitedUnwaited = 1024
    /// Streams StartProcess declared (stdin/stdout/stderr) that no AttachStdio has taken yet: each holds a
    /// pipe end.
    public var unattachedStreams = 2048
    /// WaitProcess calls parked on one connection.
    public var parkedWaitsPerConnection = 1024

    public init() {}
}

/// A command line guest-agent cannot run with; `isHelp` when the user asked for the usage text.
public struct AgentOptionsError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public let isHelp: Bool
    init(_ description: String, isHelp: Bool = false) {
        self.description = description
        self.isHelp = isHelp
    }
}
