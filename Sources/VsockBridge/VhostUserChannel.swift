// Framing of vhost-user messages on the Unix socket QEMU connected to. The socket is blocking: the
// event loop calls `receive` only when it is readable, and QEMU writes each message whole, so the rest of
// a message is already there or moments away.
import GuestSys

/// One end of a vhost-user connection: reads requests with their descriptors, writes replies.
public final class VhostUserChannel {
    public let fd: FileDescriptor

    public init(fd: FileDescriptor) { self.fd = fd }

    /// The next request; nil when QEMU closed the connection between messages.
    public func receive() throws(VhostUserError) -> VhostUserMessage? {
        var descriptors: [FileDescriptorBox] = []
        guard let headerBytes = try read(VhostUserHeader.size, collecting: &descriptors, endOfFileAllowed: true) else {
            return nil
        }
        let header = try VhostUserHeader(headerBytes)
        let payload = header.size == 0 ? [] : try read(Int(header.size), collecting: &descriptors, endOfFileAllowed: false) ?? []
        return VhostUserMessage(header: header, payload: payload, descriptors: descriptors)
    }

    /// Reads exactly `count` bytes; nil on end of file before the first byte when that is allowed.
    private func read(_ count: Int, collecting descriptors: inout [FileDescriptorBox], endOfFileAllowed: Bool)
        throws(VhostUserError) -> [UInt8]?
    {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let result = bytes.withUnsafeMutableBytes { buffer -> Result<(count: Int, descriptors: [FileDescriptor]), SysError> in
                let rest = UnsafeMutableRawBufferPointer(rebasing: buffer[filled...])
                do throws(SysError) { return .success(try Sockets.receive(fd, into: rest, maxDescriptors: 8)) }
                catch { return .failure(error) }
            }
            switch result {
            case .success(let received):
                descriptors += received.descriptors.map(FileDescriptorBox.init)
                if received.count == 0 {
                    if filled == 0 && endOfFileAllowed { return nil }
                    throw VhostUserError("connection closed in the middle of a message (\(filled) of \(count) bytes)")
                }
                filled += received.count
            case .failure(let error):
                if error.code == Errno.ECONNRESET && filled == 0 && endOfFileAllowed { return nil }
                throw VhostUserError("reading a message: \(error)")
            }
        }
        return bytes
    }

    /// Sends a reply built by `VhostUserReply`.
    public func send(_ bytes: [UInt8]) throws(VhostUserError) {
        var offset = 0
        while offset < bytes.count {
            let result = bytes.withUnsafeBytes { buffer -> Result<Int, SysError> in
                do throws(SysError) { return .success(try Sockets.send(fd, UnsafeRawBufferPointer(rebasing: buffer[offset...]))) }
                catch { return .failure(error) }
            }
            switch result {
            case .success(let n): offset += n
            case .failure(let error): throw VhostUserError("sending a reply: \(error)")
            }
        }
    }
}
