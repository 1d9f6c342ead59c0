// Reading what the kernel sent: each message copied out of the receive buffer, its fixed header loaded
// as the kernel's struct, its attributes walked with libmnl (mnl_attr_ok/mnl_attr_next check every
// length against the bytes that are there).
import CMnl

/// One received netlink message, copied out of the receive buffer.
final class NetlinkMessage {
    private let storage: UnsafeMutableRawBufferPointer

    init(copying message: UnsafePointer<nlmsghdr>) {
        let length = Int(message.pointee.nlmsg_len)
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 8)
        storage.copyMemory(from: UnsafeRawBufferPointer(start: message, count: length))
    }

    deinit { storage.deallocate() }

    private var header: UnsafePointer<nlmsghdr> { UnsafePointer(storage.baseAddress!.assumingMemoryBound(to: nlmsghdr.self)) }

    var type: UInt16 { header.pointee.nlmsg_type }

    /// The family header (ifinfomsg, ifaddrmsg, rtmsg, ndmsg); nil when the payload is too short for it.
    func fixed<Fixed: BitwiseCopyable>(_: Fixed.Type) -> Fixed? {
        guard mnl_nlmsg_get_payload_len(header) >= MemoryLayout<Fixed>.size else { return nil }
        return mnl_nlmsg_get_payload(header).loadUnaligned(as: Fixed.self)
    }

    /// The attributes after a family header of `fixedSize` bytes.
    func attributes(after fixedSize: Int) -> NetlinkAttributes {
        let payloadLength = Int(mnl_nlmsg_get_payload_len(header))
        guard payloadLength >= fixedSize else { return NetlinkAttributes() }
        let start = UnsafeRawPointer(mnl_nlmsg_get_payload_offset(header, fixedSize)!)
        let end = UnsafeRawPointer(mnl_nlmsg_get_payload_tail(header)!)
        return NetlinkAttributes(start: start, count: end - start)
    }
}

/// A set of netlink attributes: each type's payload (the first of a type wins).
struct NetlinkAttributes {
    private var payloads: [UInt16: [UInt8]] = [:]

    init() {}

    /// Walks the attributes in `count` bytes from `start`.
    init(start: UnsafeRawPointer, count: Int) {
        var attribute = start.assumingMemoryBound(to: nlattr.self)
        var remaining = count
        while remaining > 0, mnl_attr_ok(attribute, Int32(clamping: remaining)) {
            let type = mnl_attr_get_type(attribute)
            let length = Int(mnl_attr_get_payload_len(attribute))
            if payloads[type] == nil, let payload = mnl_attr_get_payload(attribute) {
                payloads[type] = Array(UnsafeRawBufferPointer(start: payload, count: length))
            }
            guard let next = mnl_attr_next(attribute) else { break }
            remaining -= UnsafeRawPointer(next) - UnsafeRawPointer(attribute)
            attribute = UnsafePointer(next)
        }
    }

    /// Attributes nested in the payload of `bytes`.
    init(nested bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, raw.count > 0 else { return NetlinkAttributes() }
            return NetlinkAttributes(start: base, count: raw.count)
        }
    }

    func bytes(_ type: Int32) -> [UInt8]? { payloads[UInt16(truncatingIfNeeded: type)] }

    func u32(_ type: Int32) -> UInt32? {
        guard let payload = bytes(type), payload.count >= 4 else { return nil }
        return payload.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
    }

    func u8(_ type: Int32) -> UInt8? { bytes(type)?.first }

    /// A string attribute, without its terminating NUL.
    func string(_ type: Int32) -> String? {
        guard let payload = bytes(type) else { return nil }
        return String(decoding: payload.prefix { $0 != 0 }, as: UTF8.self)
    }

    func nested(_ type: Int32) -> NetlinkAttributes? { bytes(type).map { NetlinkAttributes(nested: $0) } }

    func has(_ type: Int32) -> Bool { payloads[UInt16(truncatingIfNeeded: type)] != nil }
}
