// Building one rtnetlink request with libmnl: the netlink header, the message family's fixed header
// (the kernel's own ifinfomsg, ifaddrmsg, rtmsg or ndmsg struct from <linux/rtnetlink.h>) and the
// attributes, each laid out and aligned by libmnl's put functions.
import CMnl

/// One netlink request in a buffer of its own, with a description for errors ("RTM_NEWADDR 192.0.2.2/24 dev eth0").
final class NetlinkRequest {
    static let capacity = 8192

    let operation: String
    private let buffer: UnsafeMutableRawPointer
    let header: UnsafeMutablePointer<nlmsghdr>
    /// Set when an attribute did not fit; the socket refuses to send such a request.
    private(set) var overflowed = false

    /// A request of `type` (RTM_*) with `flags` (NLM_F_* beyond REQUEST and ACK, which the socket adds) and
    /// the family header `fixed`.
    init<Fixed: BitwiseCopyable>(type: Int32, flags: Int32 = 0, fixed: Fixed, operation: String) {
        self.operation = operation
        buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.capacity, alignment: 8)
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: Self.capacity)
        header = mnl_nlmsg_put_header(buffer)
        header.pointee.nlmsg_type = UInt16(truncatingIfNeeded: type)
        header.pointee.nlmsg_flags = UInt16(truncatingIfNeeded: flags)
        let extra = mnl_nlmsg_put_extra_header(header, MemoryLayout<Fixed>.size)!
        extra.storeBytes(of: fixed, as: Fixed.self)
    }

    deinit { buffer.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: buffer, count: Int(header.pointee.nlmsg_len)) }

    func put(_ type: Int32, u32 value: UInt32) {
        if !mnl_attr_put_u32_check(header, Self.capacity, UInt16(truncatingIfNeeded: type), value) { overflowed = true }
    }

    func put(_ type: Int32, string value: String) {
        if !mnl_attr_put_strz_check(header, Self.capacity, UInt16(truncatingIfNeeded: type), value) { overflowed = true }
    }

    func put(_ type: Int32, bytes value: [UInt8]) {
        let fits = value.withUnsafeBytes { raw in
            mnl_attr_put_check(header, Self.capacity, UInt16(truncatingIfNeeded: type), raw.count, raw.baseAddress)
        }
        if !fits { overflowed = true }
    }
}
