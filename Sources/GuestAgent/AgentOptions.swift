import GuestSys

/// guest-agent's command line: where to listen and where guest-init's boot timeline is.
public struct AgentOptions: Equatable, Sendable {
    public static let defaultPort: UInt32 = 1024
    public static let defaultBootFile = "/run/guest/boot.json"
    public static let usage = """
        usage: guest-agent [--port N | --listen unix:PATH | --listen vsock:PORT] [--boot-file PATH]
          --port N            listen on AF_VSOCK, any CID, port N (default 1024)
          --listen ADDRESS    unix:PATH (a host or a test) or vsock:PORT
          --boot-file PATH    guest-init's boot timeline (default /run/guest/boot.json)
        """

    public var address: SocketAddress = .vsock(cid: SocketAddress.anyCID, port: defaultPort)
    public var bootFile: String = defaultBootFile

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

/// A command line guest-agent cannot run with; `isHelp` when the user asked for the usage text.
public struct AgentOptionsError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public let isHelp: Bool
    init(_ description: String, isHelp: Bool = false) {
        self.description = description
        self.isHelp = isHelp
    }
}
