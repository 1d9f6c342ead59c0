// A NETLINK_ROUTE socket through libmnl. Requests ask for an acknowledgement and wait for it; dumps collect
// every part up to NLMSG_DONE (and start again when the kernel flags a dump as interrupted by a change).
// Extended acknowledgements are asked for, so a refusal carries the kernel's own reason ("Nexthop has
// invalid gateway") besides the errno. The socket belongs to the network namespace of the thread that
// opens it.
#if canImport(Glibc)
import Glibc
#endif
import CMnl
import GuestSys

/// A rtnetlink socket in the calling thread's network namespace.
final class RouteSocket {
    private static let receiveCapacity = 64 << 10
    private static let dumpAttempts = 5

    private let socket: OpaquePointer
    private let portID: UInt32
    private var sequence: UInt32 = 0
    private let receiveBuffer: UnsafeMutableRawPointer

    init() throws(NetworkError) {
        guard let socket = mnl_socket_open2(NETLINK_ROUTE, Int32(SOCK_CLOEXEC.rawValue)) else {
            throw .system(SysError("socket", ["AF_NETLINK", "NETLINK_ROUTE"], code: Errno.current))
        }
        guard mnl_socket_bind(socket, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let code = Errno.current
            mnl_socket_close(socket)
            throw .system(SysError("bind", ["AF_NETLINK"], code: code))
        }
        // Both are optional (kernels before 4.12 lack extended ACKs): without them errors have no text.
        var on: Int32 = 1
        _ = mnl_socket_setsockopt(socket, NETLINK_EXT_ACK, &on, socklen_t(MemoryLayout<Int32>.size))
        _ = mnl_socket_setsockopt(socket, NETLINK_CAP_ACK, &on, socklen_t(MemoryLayout<Int32>.size))
        self.socket = socket
        portID = mnl_socket_get_portid(socket)
        receiveBuffer = UnsafeMutableRawPointer.allocate(byteCount: Self.receiveCapacity, alignment: 8)
    }

    deinit {
        mnl_socket_close(socket)
        receiveBuffer.deallocate()
    }

    /// Sends a request and waits for its acknowledgement; a refusal is a `NetworkError.kernel` naming it.
    func perform(_ request: NetlinkRequest) throws(NetworkError) {
        let seq = try send(request, flags: NLM_F_REQUEST | NLM_F_ACK)
        _ = try receive(seq, for: request.operation, dump: false)
    }

    /// Sends a dump request and returns every message of the answer.
    func dump(_ request: NetlinkRequest) throws(NetworkError) -> [NetlinkMessage] {
        for _ in 1..<Self.dumpAttempts {
            let seq = try send(request, flags: NLM_F_REQUEST | NLM_F_DUMP)
            let (messages, interrupted) = try receive(seq, for: request.operation, dump: true)
            if !interrupted { return messages }
        }
        let seq = try send(request, flags: NLM_F_REQUEST | NLM_F_DUMP)
        return try receive(seq, for: request.operation, dump: true).messages
    }

    private func send(_ request: NetlinkRequest, flags: Int32) throws(NetworkError) -> UInt32 {
        guard !request.overflowed else {
            throw .invalidArgument("\(request.operation): the request does not fit in \(NetlinkRequest.capacity) bytes")
        }
        sequence &+= 1
        request.header.pointee.nlmsg_seq = sequence
        request.header.pointee.nlmsg_flags |= UInt16(truncatingIfNeeded: flags)
        let bytes = request.bytes
        while true {
            let sent = mnl_socket_sendto(socket, bytes.baseAddress, bytes.count)
            if sent == bytes.count { return sequence }
            if sent < 0, Errno.current == Errno.EINTR { continue }
            throw .system(SysError("sendto", ["NETLINK_ROUTE", request.operation], code: sent < 0 ? Errno.current : Errno.EIO))
        }
    }

    /// Reads answers to `seq` until the acknowledgement (a request) or NLMSG_DONE (a dump).
    private func receive(_ seq: UInt32, for operation: String, dump: Bool) throws(NetworkError) -> (messages: [NetlinkMessage], interrupted: Bool) {
        var messages: [NetlinkMessage] = []
        var interrupted = false
        while true {
            let received = mnl_socket_recvfrom(socket, receiveBuffer, Self.receiveCapacity)
            if received < 0 {
                if Errno.current == Errno.EINTR { continue }
                throw .system(SysError("recvfrom", ["NETLINK_ROUTE", operation], code: Errno.current))
            }
            var remaining = Int32(clamping: received)
            var message = UnsafePointer(receiveBuffer.assumingMemoryBound(to: nlmsghdr.self))
            while mnl_nlmsg_ok(message, remaining) {
                defer {
                    if let next = mnl_nlmsg_next(message, &remaining) { message = UnsafePointer(next) } else { remaining = 0 }
                }
                guard mnl_nlmsg_portid_ok(message, portID), mnl_nlmsg_seq_ok(message, seq) else { continue }
                let flags = Int32(message.pointee.nlmsg_flags)
                if flags & NLM_F_DUMP_INTR != 0 { interrupted = true }
                switch Int32(message.pointee.nlmsg_type) {
                case NLMSG_ERROR:
                    let (code, text) = Self.acknowledgement(message)
                    if code != 0 { throw .kernel(operation: operation, code: code, message: text) }
                    if !dump { return (messages, interrupted) }
                case NLMSG_DONE:
                    if dump {
                        let payload = mnl_nlmsg_get_payload(message)
                        if mnl_nlmsg_get_payload_len(message) >= 4, let payload {
                            let code = payload.loadUnaligned(as: Int32.self)
                            if code < 0 { throw .kernel(operation: operation, code: -code, message: nil) }
                        }
                        return (messages, interrupted)
                    }
                case NLMSG_NOOP, NLMSG_OVERRUN:
                    break
                default:
                    messages.append(NetlinkMessage(copying: message))
                }
            }
        }
    }

    /// The errno (positive; 0 for a plain acknowledgement) and the kernel's message of an NLMSG_ERROR.
    private static func acknowledgement(_ message: UnsafePointer<nlmsghdr>) -> (Int32, String?) {
        let headerSize = MemoryLayout<nlmsgerr>.size
        guard mnl_nlmsg_get_payload_len(message) >= headerSize, let payload = mnl_nlmsg_get_payload(message) else {
            return (Errno.EIO, "a truncated error message")
        }
        let error = payload.loadUnaligned(as: nlmsgerr.self)
        let code = -error.error
        let flags = Int32(message.pointee.nlmsg_flags)
        guard code != 0, flags & NLM_F_ACK_TLVS != 0 else { return (code, nil) }
        // The attributes follow the echoed request: its header only when the answer was capped.
        var offset = headerSize
        if flags & NLM_F_CAPPED == 0 {
            offset += max(0, Int(error.msg.nlmsg_len) - MemoryLayout<nlmsghdr>.size)
        }
        offset = (offset + 3) & ~3  // NLMSG_ALIGN
        let total = Int(mnl_nlmsg_get_payload_len(message))
        guard offset < total, let start = mnl_nlmsg_get_payload_offset(message, offset) else { return (code, nil) }
        let attributes = NetlinkAttributes(start: UnsafeRawPointer(start), count: total - offset)
        return (code, attributes.string(Int32(NLMSGERR_ATTR_MSG.rawValue)))
    }
}
