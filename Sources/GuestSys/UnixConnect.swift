#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGuestShim

extension Sockets {
    /// Connects a non-blocking Unix stream socket, for event loops that must never stall on a peer.
    /// A Unix connect completes at once or fails (EAGAIN when the listener's backlog is full); there is
    /// no EINPROGRESS to wait out as with TCP.
    public static func connectNonBlocking(unixPath path: String) throws(SysError) -> FileDescriptor {
        let fd = try stream(AF_UNIX, nonBlocking: true)
        do throws(SysError) {
            try sys("connect", ["unix:\(path)"]) { gk_connect_unix(fd.rawValue, path) }
        } catch {
            fd.closeQuietly()
            throw error
        }
        return fd
    }
}
