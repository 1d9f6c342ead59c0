#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGuestShim

/// Where a stream socket lives: a Unix path, a vsock CID and port, or an IP address and TCP port.
public enum SocketAddress: Sendable, Equatable, CustomStringConvertible {
    case unix(String)
    case vsock(cid: UInt32, port: UInt32)
    /// An IPv4 (4 bytes) or IPv6 (16 bytes) address in network order and a TCP port.
    case inet(address: [UInt8], port: UInt16)

    /// `.inet` for an address written as text (`192.0.2.1`, `2001:db8::1`); nil when it is not one.
    public static func inet(_ text: String, port: UInt16) -> SocketAddress? {
        InternetAddressText.parse(text).map { .inet(address: $0, port: port) }
    }

    /// VMADDR_CID_ANY: bind on every CID the guest has.
    public static let anyCID: UInt32 = 0xFFFF_FFFF
    /// VMADDR_CID_HOST.
    public static let hostCID: UInt32 = 2

    public var description: String {
        switch self {
        case .unix(let path): return "unix:\(path)"
        case .vsock(let cid, let port): return "vsock:\(cid == Self.anyCID ? "any" : String(cid)):\(port)"
        case .inet(let address, let port):
            let text = InternetAddressText.format(address) ?? "<\(address.count)-byte address>"
            return address.count == 16 ? "tcp:[\(text)]:\(port)" : "tcp:\(text):\(port)"
        }
    }

    var family: Int32 {
        switch self {
        case .unix: return AF_UNIX
        case .vsock: return AF_VSOCK
        case .inet(let address, _): return address.count == 16 ? AF_INET6 : AF_INET
        }
    }

    /// Calls `body` with the sockaddr_in or sockaddr_in6 of an `.inet` address; -1 and EINVAL for an address
    /// of another length.
    static func withInternetSockaddr(_ address: [UInt8], _ port: UInt16,
                                     _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        switch address.count {
        case 4:
            var socketAddress = sockaddr_in()
            socketAddress.sin_family = sa_family_t(AF_INET)
            socketAddress.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &socketAddress.sin_addr) { $0.copyBytes(from: address) }
            return asSockaddr(&socketAddress, body)
        case 16:
            var socketAddress = sockaddr_in6()
            socketAddress.sin6_family = sa_family_t(AF_INET6)
            socketAddress.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &socketAddress.sin6_addr) { $0.copyBytes(from: address) }
            return asSockaddr(&socketAddress, body)
        default:
            errno = EINVAL
            return -1
        }
    }

    /// Hands a filled-in sockaddr_* to `body` as the generic `sockaddr` pointer and length the calls take.
    private static func asSockaddr<Address>(_ address: inout Address,
                                            _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<Address>.size)) }
        }
    }
}

/// Which half of a connection to shut down.
public enum ShutdownHow: Int32, Sendable {
    case read = 0, write = 1, both = 2
}

/// Stream sockets over Unix and vsock addresses.
public enum Sockets {
    /// A new stream socket, close-on-exec (optionally non-blocking).
    public static func stream(_ family: Int32, nonBlocking: Bool = false) throws(SysError) -> FileDescriptor {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
            | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        let name = switch family {
        case AF_UNIX: "AF_UNIX"
        case AF_VSOCK: "AF_VSOCK"
        case AF_INET: "AF_INET"
        case AF_INET6: "AF_INET6"
        default: "family \(family)"
        }
        return FileDescriptor(rawValue: try sys("socket", [name, "SOCK_STREAM"]) {
            socket(family, type, 0)
        })
    }

    /// Binds and listens. A stale Unix socket file at the path is replaced. With `unixMode`, the socket
    /// file is created with that mode (less the umask) from the start: Linux takes a Unix socket file's mode
    /// from the socket's own inode at bind, so there is no moment where it is more open than asked.
    public static func listen(_ address: SocketAddress, backlog: Int32 = 128, nonBlocking: Bool = true,
                              unixMode: mode_t? = nil) throws(SysError) -> FileDescriptor {
        let fd = try stream(address.family, nonBlocking: nonBlocking)
        do throws(SysError) {
            switch address {
            case .unix(let path):
                if let st = try? FileSystem.status(path, followSymlinks: false), st.mode & S_IFMT == S_IFSOCK {
                    try FileSystem.unlink(path)
                }
                if let unixMode {
                    try sys("fchmod", [fd.description, String(unixMode, radix: 8)]) { fchmod(fd.rawValue, unixMode) }
                }
                try sys("bind", [fd.description, address.description]) { gk_bind_unix(fd.rawValue, path) }
            case .vsock(let cid, let port):
                try sys("bind", [fd.description, address.description]) { gk_bind_vsock(fd.rawValue, cid, port) }
            case .inet(let bytes, let port):
                try sys("bind", [fd.description, address.description]) {
                    SocketAddress.withInternetSockaddr(bytes, port) { Glibc.bind(fd.rawValue, $0, $1) }
                }
            }
            try sys("listen", [fd.description, "\(backlog)"]) { Glibc.listen(fd.rawValue, backlog) }
        } catch {
            fd.closeQuietly()
            throw error
        }
        return fd
    }

    /// accept4(2); nil when no connection is pending on a non-blocking listener.
    public static func accept(_ listener: FileDescriptor, nonBlocking: Bool = true) throws(SysError) -> FileDescriptor? {
        let flags = Int32(SOCK_CLOEXEC.rawValue) | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        while true {
            let fd = gk_accept4(listener.rawValue, flags)
            if fd >= 0 { return FileDescriptor(rawValue: fd) }
            switch errno {
            case EINTR: continue
            case EAGAIN: return nil
            // The peer gave up between SYN and accept (a reset, or a snapshot restore): not our failure.
            case ECONNABORTED, EPROTO, ENETDOWN, EHOSTUNREACH, ENETUNREACH: continue
            default: throw SysError("accept4", [listener.description], code: errno)
            }
        }
    }

    /// Connects a blocking stream socket. With `sendTimeoutMilliseconds`, SO_SNDTIMEO is set first: it
    /// bounds a Unix connect to a listener whose backlog is full, and every later blocking send.
    public static func connect(_ address: SocketAddress, sendTimeoutMilliseconds: Int? = nil) throws(SysError) -> FileDescriptor {
        let fd = try stream(address.family)
        do throws(SysError) {
            if let sendTimeoutMilliseconds { try setSendTimeout(fd, milliseconds: sendTimeoutMilliseconds) }
            switch address {
            case .unix(let path):
                try sys("connect", [address.description]) { gk_connect_unix(fd.rawValue, path) }
            case .vsock(let cid, let port):
                try sys("connect", [address.description]) { gk_connect_vsock(fd.rawValue, cid, port) }
            case .inet(let bytes, let port):
                try sys("connect", [address.description]) {
                    SocketAddress.withInternetSockaddr(bytes, port) { Glibc.connect(fd.rawValue, $0, $1) }
                }
            }
        } catch {
            fd.closeQuietly()
            throw error
        }
        return fd
    }

    /// A connected pair of Unix stream sockets, close-on-exec.
    public static func pair(nonBlocking: Bool = false) throws(SysError) -> (FileDescriptor, FileDescriptor) {
        var fds: [Int32] = [-1, -1]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
            | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        try sys("socketpair", ["AF_UNIX", "SOCK_STREAM"]) { socketpair(AF_UNIX, type, 0, &fds) }
        return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
    }

    /// shutdown(SHUT_RDWR), then close: the peer sees the end at once even while another process still
    /// holds a copy of the descriptor (a child between its clone and its exec), which a close alone would
    /// leave open until that copy goes.
    public static func end(_ fd: FileDescriptor) {
        _ = Glibc.shutdown(fd.rawValue, Int32(SHUT_RDWR))
        fd.closeQuietly()
    }

    /// A connected pair of Unix SOCK_SEQPACKET sockets, close-on-exec: message boundaries are kept, and
    /// descriptors travel with SCM_RIGHTS.
    public static func messagePair() throws(SysError) -> (FileDescriptor, FileDescriptor) {
        var fds: [Int32] = [-1, -1]
        try sys("socketpair", ["AF_UNIX", "SOCK_SEQPACKET"]) { gk_socketpair_seqpacket(&fds) }
        return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
    }

    public static func shutdown(_ fd: FileDescriptor, _ how: ShutdownHow) throws(SysError) {
        try sys("shutdown", [fd.description, "\(how)"]) { Glibc.shutdown(fd.rawValue, how.rawValue) }
    }

    /// send(2) with MSG_NOSIGNAL: a closed peer is an EPIPE error, never a SIGPIPE.
    public static func send(_ fd: FileDescriptor, _ buffer: UnsafeRawBufferPointer) throws(SysError) -> Int {
        try sys("send", [fd.description, "\(buffer.count)"]) {
            Glibc.send(fd.rawValue, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
        }
    }

    /// Sends every byte (blocking socket) with MSG_NOSIGNAL: a host tool talking to a peer that went away
    /// gets EPIPE, never a SIGPIPE that would end the whole process.
    public static func sendAll(_ fd: FileDescriptor, _ buffer: UnsafeRawBufferPointer) throws(SysError) {
        var offset = 0
        while offset < buffer.count {
            offset += try send(fd, UnsafeRawBufferPointer(rebasing: buffer[offset...]))
        }
    }

    /// `sendAll` for an array of bytes.
    public static func sendAll(_ fd: FileDescriptor, _ bytes: [UInt8]) throws(SysError) {
        // Array's withUnsafeBytes is not typed-throws: the send loop runs inside and hands its error out.
        let failure: SysError? = bytes.withUnsafeBytes { raw in
            do throws(SysError) {
                try sendAll(fd, raw)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    /// Sends bytes with descriptors attached (SCM_RIGHTS).
    public static func send(_ fd: FileDescriptor, _ bytes: [UInt8], descriptors: [FileDescriptor]) throws(SysError) -> Int {
        let raw = descriptors.map(\.rawValue)
        return try sys("sendmsg", [fd.description, "\(bytes.count) bytes", "\(raw.count) fds"]) {
            bytes.withUnsafeBytes { buf in gk_sendmsg_fds(fd.rawValue, buf.baseAddress, buf.count, raw, Int32(raw.count)) }
        }
    }

    /// Receives bytes and any descriptors sent with them (close-on-exec).
    public static func receive(_ fd: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, maxDescriptors: Int = 8)
        throws(SysError) -> (count: Int, descriptors: [FileDescriptor])
    {
        var fds = [Int32](repeating: -1, count: maxDescriptors)
        var received: Int32 = 0
        let n = try sys("recvmsg", [fd.description, "\(buffer.count)"]) {
            gk_recvmsg_fds(fd.rawValue, buffer.baseAddress, buffer.count, &fds, Int32(maxDescriptors), &received)
        }
        return (n, fds.prefix(Int(received)).map { FileDescriptor(rawValue: $0) })
    }

    /// The vsock CID and port at the other end of an accepted vsock connection.
    public static func vsockPeer(_ fd: FileDescriptor) throws(SysError) -> (cid: UInt32, port: UInt32) {
        var cid: UInt32 = 0
        var port: UInt32 = 0
        try sys("getpeername", [fd.description]) { gk_peer_vsock(fd.rawValue, &cid, &port) }
        return (cid, port)
    }

    /// SO_SNDTIMEO: a blocking send (and, on a Unix socket, a blocking connect) gives up with EAGAIN
    /// after `milliseconds`; 0 waits forever.
    public static func setSendTimeout(_ fd: FileDescriptor, milliseconds: Int) throws(SysError) {
        var value = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
        try sys("setsockopt", [fd.description, "SO_SNDTIMEO", "\(milliseconds) ms"]) {
            setsockopt(fd.rawValue, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        }
    }

    /// SO_SNDBUF / SO_RCVBUF.
    public static func setBufferSizes(_ fd: FileDescriptor, send: Int32? = nil, receive: Int32? = nil) throws(SysError) {
        if var value = send {
            try sys("setsockopt", [fd.description, "SO_SNDBUF", "\(value)"]) {
                setsockopt(fd.rawValue, SOL_SOCKET, SO_SNDBUF, &value, socklen_t(MemoryLayout<Int32>.size))
            }
        }
        if var value = receive {
            try sys("setsockopt", [fd.description, "SO_RCVBUF", "\(value)"]) {
                setsockopt(fd.rawValue, SOL_SOCKET, SO_RCVBUF, &value, socklen_t(MemoryLayout<Int32>.size))
            }
        }
    }
}
