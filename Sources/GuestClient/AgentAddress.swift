import GuestSys

/// Where a guest's agent is reached from the host.
public enum AgentAddress: Sendable, Equatable, CustomStringConvertible {
    /// `vsock://CID:PORT`: the kernel's vsock (vhost-vsock), straight to the guest.
    case vsock(cid: UInt32, port: UInt32)
    /// `hybrid:///path/to/vmm.sock:PORT`: Firecracker, Cloud Hypervisor or guest-vsock-bridge expose the
    /// guest's vsock as a Unix socket; a `CONNECT <port>` line picks the guest port.
    case hybrid(path: String, port: UInt32)
    /// `unix:///path`: an agent listening on a Unix socket (tests, or run on a host).
    case unix(String)

    public var description: String {
        switch self {
        case .vsock(let cid, let port): return "vsock://\(cid):\(port)"
        case .hybrid(let path, let port): return "hybrid://\(path):\(port)"
        case .unix(let path): return "unix://\(path)"
        }
    }

    /// Parses `vsock://CID:PORT`, `hybrid:///PATH:PORT` or `unix:///PATH`.
    public init(parsing text: String) throws(GuestClientError) {
        func port(_ s: Substring) throws(GuestClientError) -> UInt32 {
            guard let p = UInt32(s), p > 0 else { throw .badAddress(text, "\"\(s)\" is not a port number") }
            return p
        }
        if text.hasPrefix("vsock://") {
            let rest = text.dropFirst(8)
            guard let colon = rest.lastIndex(of: ":") else { throw .badAddress(text, "expected vsock://CID:PORT") }
            guard let cid = UInt32(rest[..<colon]) else {
                throw .badAddress(text, "\"\(rest[..<colon])\" is not a CID number")
            }
            self = .vsock(cid: cid, port: try port(rest[rest.index(after: colon)...]))
        } else if text.hasPrefix("hybrid://") {
            let rest = text.dropFirst(9)
            guard rest.hasPrefix("/"), let colon = rest.lastIndex(of: ":") else {
                throw .badAddress(text, "expected hybrid:///absolute/path/to/vmm.sock:PORT")
            }
            let path = String(rest[..<colon])
            guard path.count > 1 else { throw .badAddress(text, "the socket path is empty") }
            self = .hybrid(path: path, port: try port(rest[rest.index(after: colon)...]))
        } else if text.hasPrefix("unix://") {
            let path = String(text.dropFirst(7))
            guard path.hasPrefix("/") else { throw .badAddress(text, "expected unix:///absolute/path") }
            self = .unix(path)
        } else {
            throw .badAddress(text, "expected vsock://CID:PORT, hybrid:///PATH:PORT or unix:///PATH")
        }
    }

    /// Opens one connection to the agent (blocking socket). Each stdio stream is another one. With
    /// `sendTimeoutMilliseconds`, every blocking write on it (and a Unix connect to a full backlog) gives
    /// up after that long.
    public func connect(handshakeTimeoutMilliseconds: Int32 = 10_000,
                        sendTimeoutMilliseconds: Int? = nil) throws(GuestClientError) -> FileDescriptor {
        switch self {
        case .vsock(let cid, let port):
            do { return try Sockets.connect(.vsock(cid: cid, port: port), sendTimeoutMilliseconds: sendTimeoutMilliseconds) } catch {
                throw .connect(description, error)
            }
        case .unix(let path):
            do { return try Sockets.connect(.unix(path), sendTimeoutMilliseconds: sendTimeoutMilliseconds) } catch {
                throw .connect(description, error)
            }
        case .hybrid(let path, let port):
            let fd: FileDescriptor
            do { fd = try Sockets.connect(.unix(path), sendTimeoutMilliseconds: sendTimeoutMilliseconds) } catch {
                throw .connect(description, error)
            }
            do {
                try HybridConnectRequester.perform(on: fd, path: path, port: port, timeoutMilliseconds: handshakeTimeoutMilliseconds)
            } catch {
                fd.closeQuietly()
                throw error
            }
            return fd
        }
    }
}

/// Firecracker's host-initiated vsock handshake on the VMM's Unix socket: send `CONNECT <port>\n`, read
/// `OK <hostport>\n`; from then on the socket is the guest connection. The VMM closes the socket when no
/// guest listener takes the port.
public enum HybridConnectRequester {
    public static func perform(on fd: FileDescriptor, path: String, port: UInt32,
                               timeoutMilliseconds: Int32) throws(GuestClientError) {
        do {
            try Sockets.sendAll(fd, Array("CONNECT \(port)\n".utf8))
        } catch {
            throw .handshake("cannot send CONNECT \(port) to \(path): \(error)")
        }
        // One byte at a time: whatever follows the newline already belongs to the guest connection.
        var line: [UInt8] = []
        while line.last != UInt8(ascii: "\n") {
            guard line.count < 128 else {
                throw .handshake("\(path) answered CONNECT \(port) with a line longer than 128 bytes; is it a hybrid vsock socket?")
            }
            let ready: Bool
            do { ready = try fd.waitReadable(timeoutMilliseconds: timeoutMilliseconds) } catch { throw .handshake("\(error)") }
            guard ready else {
                throw .handshake("no answer to CONNECT \(port) from \(path) within \(timeoutMilliseconds) ms")
            }
            let got: [UInt8]
            do {
                got = try fd.read(upTo: 1)
            } catch {
                throw .handshake("reading the answer to CONNECT \(port) from \(path): \(error)")
            }
            if got.isEmpty {
                throw .handshake("the VMM at \(path) closed the connection after CONNECT \(port)"
                    + (line.isEmpty ? "" : " (after \"\(String(decoding: line, as: UTF8.self))\")")
                    + ": nothing listens on guest vsock port \(port); is guest-agent running in the guest?")
            }
            line.append(got[0])
        }
        let text = String(decoding: line.dropLast(), as: UTF8.self)
        guard text.hasPrefix("OK ") || text == "OK" else {
            throw .handshake("\(path) answered CONNECT \(port) with \"\(text)\" instead of OK <hostport>")
        }
    }
}
