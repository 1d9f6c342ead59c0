// ContainerdShim is containerd-shim-guestkit-v1: the containerd runtime shim v2 that runs each task in a
// GuestKit micro-VM. containerd starts the binary with `start` (this process then starts the long-lived
// server and prints its address), calls the server's containerd.task.v2.Task service over ttRPC, and runs
// the binary with `delete` when a server died. The server boots one VM per task (GuestBoot), shares the
// task's rootfs into it over virtio-9p, has the guest agent create and run the OCI container, and copies
// the container's stdio between containerd's FIFOs and the agent. It treats the guest as untrusted: every
// answer is bounded in size and time, and nothing the guest says chooses a host path.
//
// The parts: `ShimArguments` (the command line), `ShimStart`/`ShimDelete` (the two actions),
// `TTRPCServer` (the host side of ttRPC), `TaskService` (the RPC surface), `ShimTask` and `ShimProcess`
// (what containerd sees), `TaskSandbox` (the VM and its agent), `RootfsMount`, `SharedDirectory`,
// `FifoCopier` (stdio), `EventPublisher` (events to containerd), `ShimConfig` (the TOML configuration).

/// What containerd asked the shim binary to do.
public enum ShimAction: String, Sendable, Equatable {
    /// Start the long-lived server (or reuse one) and print its address.
    case start
    /// Clean up after a server that died.
    case delete
    /// Be the server: the listening socket is descriptor 3 (what `start` runs).
    case serve
}

/// The shim's command line, in the Go `flag` syntax containerd uses: `-namespace N -address A
/// -publish-binary B -id ID [-bundle PATH] [-debug] start|delete`.
public struct ShimArguments: Sendable, Equatable {
    public var namespace = ""
    public var address = ""
    public var publishBinary = ""
    public var id = ""
    public var bundle: String?
    public var debug = false
    public var action: ShimAction = .serve

    public static let usage = """
        usage: containerd-shim-guestkit-v1 -namespace NS -address CONTAINERD_SOCKET -publish-binary CONTAINERD \\
                 -id ID [-bundle PATH] [-debug] [start|delete]
        Started by containerd for runtime io.containerd.guestkit.v1; the bundle is the working directory.
        """

    public init() {}

    /// Parses the arguments after the program name.
    public init(_ arguments: [String]) throws(ShimError) {
        var rest = arguments[...]
        var positional: [String] = []
        while let word = rest.popFirst() {
            guard word.hasPrefix("-"), word != "-" else {
                positional.append(word)
                continue
            }
            if word == "--" {
                positional += rest
                break
            }
            // Go accepts -flag and --flag alike, with the value inline (=) or as the next word.
            var name = String(word.drop { $0 == "-" })
            var inline: String?
            if let eq = name.firstIndex(of: "=") {
                inline = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            func value() throws(ShimError) -> String {
                if let inline { return inline }
                guard let next = rest.popFirst() else { throw .usage("flag -\(name) needs a value\n" + Self.usage) }
                return next
            }
            switch name {
            case "namespace": namespace = try value()
            case "address": address = try value()
            case "publish-binary": publishBinary = try value()
            case "id": id = try value()
            case "bundle": bundle = try value()
            case "debug":
                if let inline {
                    guard let flag = ["true": true, "1": true, "false": false, "0": false][inline] else {
                        throw .usage("-debug=\(inline): expected true or false")
                    }
                    debug = flag
                } else {
                    debug = true
                }
            case "socket", "v", "version", "help", "h":
                if name == "v" || name == "version" { throw .version }
                if name == "help" || name == "h" { throw .usage(Self.usage) }
                _ = try value()  // -socket: a grouping socket of newer containerds; one VM per task here
            default:
                throw .usage("unknown flag -\(name)\n" + Self.usage)
            }
        }
        switch positional.count {
        case 0: action = .serve
        case 1:
            guard let known = ShimAction(rawValue: positional[0]), known != .serve else {
                throw .usage("unknown action \"\(positional[0])\": expected start or delete\n" + Self.usage)
            }
            action = known
        default:
            throw .usage("one action at most, got \(positional.joined(separator: " "))\n" + Self.usage)
        }
        if namespace.isEmpty { throw .usage("-namespace is required\n" + Self.usage) }
        if id.isEmpty { throw .usage("-id is required\n" + Self.usage) }
        guard Self.isSafeName(id), Self.isSafeName(namespace) else {
            throw .usage("namespace \"\(namespace)\" and id \"\(id)\" must be 1-76 characters of A-Z a-z 0-9 . _ -, not starting with '.'")
        }
    }

    /// containerd's identifier rule (namespaces and ids): what may become part of a path.
    static func isSafeName(_ text: String) -> Bool {
        guard (1...76).contains(text.utf8.count), text.first != "." else { return false }
        return text.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F || c == 0x2D
        }
    }

    /// The flags for re-running this binary as the server, as containerd gave them.
    var serverArguments: [String] {
        var words = ["-namespace", namespace, "-address", address, "-publish-binary", publishBinary, "-id", id]
        if debug { words.append("-debug") }
        return words
    }
}
