// Framing of vhost-user messages on the Unix socket QEMU connected to. The socket is non-blocking and the
// bridge has one thread, so nothing here may wait for the front-end: a message is assembled across as
// many readable events as it takes (a front-end that sends half a message and stops stalls only itself),
// and replies the front-end does not read yet wait in a small buffer until it does.
//
// Descriptors ride on the message's bytes (SCM_RIGHTS). Reads never ask for more than the rest of the
// current message, so every descriptor received belongs to the message being assembled.
import GuestSys

/// What one `receive` found.
public enum VhostUserReceived {
    case message(VhostUserMessage)
    /// Part of a message is here, the rest is not yet: call again when the socket is readable.
    case incomplete
    /// The front-end closed the connection between messages.
    case closed
}

/// One end of a vhost-user connection: reads requests with their descriptors, writes replies.
public final class VhostUserChannel {
    /// Replies the front-end has not read, at most: a front-end that sends requests without reading
    /// their answers is broken, and its connection goes rather than the bridge's memory.
    public static let maximumPendingOutput = 64 * 1024
    /// Descriptors one message may bring (SET_MEM_TABLE: one per region, at most 8).
    public static let maximumDescriptors = 8

    public let fd: FileDescriptor
    private var header: VhostUserHeader?
    private var partial: [UInt8] = []
    private var descriptors: [FileDescriptorBox] = []
    private var output: [UInt8] = []

    /// Takes over a connected Unix socket and makes it non-blocking.
    public init(fd: FileDescriptor) {
        self.fd = fd
        try? fd.setNonBlocking()
    }

    /// Whether replies are waiting for the socket to become writable.
    public var hasPendingOutput: Bool { !output.isEmpty }

    /// Reads what has arrived of the next request.
    public func receive() throws(VhostUserError) -> VhostUserReceived {
        while true {
            let wanted = header.map { Int($0.size) } ?? VhostUserHeader.size
            if partial.count == wanted {
                if let header {
                    let message = VhostUserMessage(header: header, payload: partial, descriptors: descriptors)
                    self.header = nil
                    partial = []
                    descriptors = []
                    return .message(message)
                }
                header = try VhostUserHeader(partial)
                partial = []
                continue
            }
            let atBoundary = header == nil && partial.isEmpty
            var chunk = [UInt8](repeating: 0, count: wanted - partial.count)
            let result = chunk.withUnsafeMutableBytes { buffer -> Result<(count: Int, descriptors: [FileDescriptor]), SysError> in
                do throws(SysError) {
                    return .success(try Sockets.receive(fd, into: buffer, maxDescriptors: Self.maximumDescriptors))
                } catch {
                    return .failure(error)
                }
            }
            switch result {
            case .success(let received):
                descriptors += received.descriptors.map(FileDescriptorBox.init)
                guard descriptors.count <= Self.maximumDescriptors else {
                    throw VhostUserError("a message brought \(descriptors.count) file descriptors (at most \(Self.maximumDescriptors))")
                }
                if received.count == 0 {
                    if atBoundary { return .closed }
                    throw VhostUserError("connection closed in the middle of a message (\(partial.count) of \(wanted) bytes)")
                }
                partial += chunk[..<received.count]
            case .failure(let error):
                if error.code == Errno.EAGAIN { return .incomplete }
                if error.code == Errno.ECONNRESET && atBoundary { return .closed }
                throw VhostUserError("reading a message: \(error)")
            }
        }
    }

    /// Sends a reply built by `VhostUserReply`; what the socket does not take now waits for `flush`.
    public func send(_ bytes: [UInt8]) throws(VhostUserError) {
        output += bytes
        try flush()
        guard output.count <= Self.maximumPendingOutput else {
            throw VhostUserError("the front-end leaves \(output.count) bytes of replies unread")
        }
    }

    /// Writes pending replies until the socket is full.
    public func flush() throws(VhostUserError) {
        var offset = 0
        defer { output.removeFirst(offset) }
        while offset < output.count {
            let result = output.withUnsafeBytes { buffer -> Result<Int, SysError> in
                do throws(SysError) { return .success(try Sockets.send(fd, UnsafeRawBufferPointer(rebasing: buffer[offset...]))) }
                catch { return .failure(error) }
            }
            switch result {
            case .success(let n): offset += n
            case .failure(let error):
                if error.code == Errno.EAGAIN { return }
                throw VhostUserError("sending a reply: \(error)")
            }
        }
    }
}
