// The vhost-user wire format (QEMU docs/interop/vhost-user.rst, "Message Specification").
//
// QEMU (the front-end) connects to the back-end's Unix socket and sends requests; every message is a
// 12-byte header then `size` payload bytes, host-endian (little-endian here), file descriptors riding
// along as SCM_RIGHTS ancillary data:
//
//   request u32 | flags u32 | size u32 | payload[size]
//
// flags: bits 0-1 version (1), bit 2 REPLY (set on back-end replies), bit 3 NEED_REPLY (with the
// REPLY_ACK protocol feature: answer a request that has no reply of its own with a u64, 0 = success).
//
// Payloads used here:
//   u64                 features, protocol features, vring index + flags for KICK/CALL/ERR
//                       (bits 0-7 index, bit 8 "no file descriptor": polling, which we refuse)
//   vring state         index u32, num u32                                   (NUM, BASE, ENABLE)
//   vring address       index u32, flags u32, desc u64, used u64, avail u64, log u64   (QEMU addresses)
//   memory table        nregions u32, padding u32, then per region:
//                       guest_phys_addr u64, memory_size u64, userspace_addr u64, mmap_offset u64
//   device config       offset u32, size u32, flags u32, then `size` bytes
import GuestSys

/// vhost-user front-end requests (VHOST_USER_*), numbered as in vhost-user.rst.
public enum VhostUserRequest: UInt32, Sendable, CaseIterable {
    case getFeatures = 1
    case setFeatures = 2
    case setOwner = 3
    case resetOwner = 4
    case setMemTable = 5
    case setLogBase = 6
    case setLogFd = 7
    case setVringNum = 8
    case setVringAddr = 9
    case setVringBase = 10
    case getVringBase = 11
    case setVringKick = 12
    case setVringCall = 13
    case setVringErr = 14
    case getProtocolFeatures = 15
    case setProtocolFeatures = 16
    case getQueueNum = 17
    case setVringEnable = 18
    case sendRarp = 19
    case netSetMtu = 20
    case setBackendReqFd = 21
    case iotlbMsg = 22
    case setVringEndian = 23
    case getConfig = 24
    case setConfig = 25
    case createCryptoSession = 26
    case closeCryptoSession = 27
    case postcopyAdvise = 28
    case postcopyListen = 29
    case postcopyEnd = 30
    case getInflightFd = 31
    case setInflightFd = 32
    case gpuSetSocket = 33
    case resetDevice = 34
    case vringKick = 35
    case getMaxMemSlots = 36
    case addMemReg = 37
    case remMemReg = 38
    case setStatus = 39
    case getStatus = 40

    /// The spec's name, for logs: "VHOST_USER_SET_MEM_TABLE".
    public var specName: String {
        let names = [
            "GET_FEATURES", "SET_FEATURES", "SET_OWNER", "RESET_OWNER", "SET_MEM_TABLE", "SET_LOG_BASE", "SET_LOG_FD",
            "SET_VRING_NUM", "SET_VRING_ADDR", "SET_VRING_BASE", "GET_VRING_BASE", "SET_VRING_KICK", "SET_VRING_CALL",
            "SET_VRING_ERR", "GET_PROTOCOL_FEATURES", "SET_PROTOCOL_FEATURES", "GET_QUEUE_NUM", "SET_VRING_ENABLE",
            "SEND_RARP", "NET_SET_MTU", "SET_BACKEND_REQ_FD", "IOTLB_MSG", "SET_VRING_ENDIAN", "GET_CONFIG",
            "SET_CONFIG", "CREATE_CRYPTO_SESSION", "CLOSE_CRYPTO_SESSION", "POSTCOPY_ADVISE", "POSTCOPY_LISTEN",
            "POSTCOPY_END", "GET_INFLIGHT_FD", "SET_INFLIGHT_FD", "GPU_SET_SOCKET", "RESET_DEVICE", "VRING_KICK",
            "GET_MAX_MEM_SLOTS", "ADD_MEM_REG", "REM_MEM_REG", "SET_STATUS", "GET_STATUS",
        ]
        return "VHOST_USER_" + names[Int(rawValue) - 1]
    }
}

/// Feature bits the bridge deals in.
public enum VirtioFeature {
    /// VIRTIO_RING_F_INDIRECT_DESC.
    public static let indirectDescriptors: UInt64 = 1 << 28
    /// VIRTIO_RING_F_EVENT_IDX.
    public static let eventIndex: UInt64 = 1 << 29
    /// VHOST_USER_F_PROTOCOL_FEATURES: the back-end speaks GET/SET_PROTOCOL_FEATURES; rings start disabled.
    public static let protocolFeatures: UInt64 = 1 << 30
    /// VIRTIO_F_VERSION_1.
    public static let version1: UInt64 = 1 << 32
}

/// vhost-user protocol feature bits (VHOST_USER_PROTOCOL_F_*).
public enum VhostUserProtocolFeature {
    public static let multiQueue: UInt64 = 1 << 0
    public static let replyAck: UInt64 = 1 << 3
    public static let config: UInt64 = 1 << 9
    public static let resetDevice: UInt64 = 1 << 13
}

/// A message's 12-byte header.
public struct VhostUserHeader: Equatable, Sendable {
    public static let size = 12
    public static let versionMask: UInt32 = 0x3
    public static let version: UInt32 = 0x1
    public static let replyFlag: UInt32 = 1 << 2
    public static let needReplyFlag: UInt32 = 1 << 3
    /// The largest payload accepted: well above any request a vsock device gets (the memory table of 8
    /// regions is 264 bytes, a config 268), so a larger size means a broken stream.
    public static let maximumPayload: UInt32 = 4096

    public var request: UInt32
    public var flags: UInt32
    public var size: UInt32

    public init(request: UInt32, flags: UInt32, size: UInt32) {
        self.request = request
        self.flags = flags
        self.size = size
    }

    public init(_ bytes: [UInt8]) throws(VhostUserError) {
        guard bytes.count == Self.size else { throw VhostUserError("header of \(bytes.count) bytes, need 12") }
        let reader = PayloadReader(bytes)
        request = reader.u32(0)
        flags = reader.u32(4)
        size = reader.u32(8)
        guard flags & Self.versionMask == Self.version else {
            throw VhostUserError("request \(request) has protocol version \(flags & Self.versionMask), expected 1")
        }
        guard size <= Self.maximumPayload else {
            throw VhostUserError("request \(request) announces a \(size)-byte payload (limit \(Self.maximumPayload))")
        }
    }

    public var needsReply: Bool { flags & Self.needReplyFlag != 0 }

    public var bytes: [UInt8] {
        var writer = PayloadWriter()
        writer.u32(request)
        writer.u32(flags)
        writer.u32(size)
        return writer.bytes
    }
}

/// One received request: header, payload and the descriptors that came with it.
public struct VhostUserMessage {
    public var header: VhostUserHeader
    public var payload: [UInt8]
    public var descriptors: [FileDescriptorBox]

    public var request: VhostUserRequest? { VhostUserRequest(rawValue: header.request) }

    public var name: String { request?.specName ?? "request \(header.request)" }

    /// The payload as one u64.
    public func u64() throws(VhostUserError) -> UInt64 {
        try expectSize(8)
        return PayloadReader(payload).u64(0)
    }

    /// A vring state: index and a number (size, base or enable flag).
    public func vringState() throws(VhostUserError) -> (index: UInt32, num: UInt32) {
        try expectSize(8)
        let reader = PayloadReader(payload)
        return (reader.u32(0), reader.u32(4))
    }

    public func vringAddress() throws(VhostUserError) -> VhostUserVringAddress {
        try expectSize(40)
        let reader = PayloadReader(payload)
        return VhostUserVringAddress(index: reader.u32(0), flags: reader.u32(4), descriptors: reader.u64(8),
                                     used: reader.u64(16), available: reader.u64(24), log: reader.u64(32))
    }

    /// The regions of SET_MEM_TABLE; there must be one descriptor per region.
    public func memoryTable() throws(VhostUserError) -> [VhostUserMemoryRegion] {
        guard payload.count >= 8 else { throw VhostUserError("\(name) payload of \(payload.count) bytes is too short") }
        let reader = PayloadReader(payload)
        let count = Int(reader.u32(0))
        guard count >= 1, count <= 8, payload.count >= 8 + 32 * count else {
            throw VhostUserError("\(name) announces \(count) regions in \(payload.count) bytes (1 to 8 regions of 32 bytes)")
        }
        guard descriptors.count == count else {
            throw VhostUserError("\(name) has \(count) regions but \(descriptors.count) file descriptors")
        }
        return (0..<count).map { i in
            let base = 8 + 32 * i
            return VhostUserMemoryRegion(guestAddress: reader.u64(base), size: reader.u64(base + 8),
                                         userAddress: reader.u64(base + 16), mmapOffset: reader.u64(base + 24))
        }
    }

    /// GET_CONFIG's request: which bytes of device config space QEMU wants.
    public func configRequest() throws(VhostUserError) -> (offset: UInt32, size: UInt32, flags: UInt32) {
        guard payload.count >= 12 else { throw VhostUserError("\(name) payload of \(payload.count) bytes is too short") }
        let reader = PayloadReader(payload)
        return (reader.u32(0), reader.u32(4), reader.u32(8))
    }

    private func expectSize(_ size: Int) throws(VhostUserError) {
        guard payload.count == size else {
            throw VhostUserError("\(name) payload is \(payload.count) bytes, expected \(size)")
        }
    }
}

/// SET_VRING_ADDR's payload; addresses are in QEMU's address space.
public struct VhostUserVringAddress: Equatable, Sendable {
    public var index: UInt32
    public var flags: UInt32
    public var descriptors: UInt64
    public var used: UInt64
    public var available: UInt64
    public var log: UInt64
}

/// One region of SET_MEM_TABLE.
public struct VhostUserMemoryRegion: Equatable, Sendable {
    public var guestAddress: UInt64
    public var size: UInt64
    public var userAddress: UInt64
    public var mmapOffset: UInt64

    public init(guestAddress: UInt64, size: UInt64, userAddress: UInt64, mmapOffset: UInt64) {
        self.guestAddress = guestAddress
        self.size = size
        self.userAddress = userAddress
        self.mmapOffset = mmapOffset
    }
}

/// A received descriptor that closes itself unless taken: a message dropped on an error path never
/// leaks the fds QEMU sent with it.
public final class FileDescriptorBox {
    private var fd: FileDescriptor?
    public init(_ fd: FileDescriptor) { self.fd = fd }
    /// Takes ownership of the descriptor; later takes return nil.
    public func take() -> FileDescriptor? {
        defer { fd = nil }
        return fd
    }
    public var peek: FileDescriptor? { fd }
    deinit { fd?.closeQuietly() }
}

/// A vhost-user message that breaks the protocol.
public struct VhostUserError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Builds back-end replies.
public enum VhostUserReply {
    /// A reply to `request` carrying `payload`.
    public static func make(_ request: UInt32, payload: [UInt8]) -> [UInt8] {
        VhostUserHeader(request: request, flags: VhostUserHeader.version | VhostUserHeader.replyFlag,
                        size: UInt32(payload.count)).bytes + payload
    }

    public static func u64(_ request: UInt32, _ value: UInt64) -> [UInt8] {
        var writer = PayloadWriter()
        writer.u64(value)
        return make(request, payload: writer.bytes)
    }

    public static func vringState(_ request: UInt32, index: UInt32, num: UInt32) -> [UInt8] {
        var writer = PayloadWriter()
        writer.u32(index)
        writer.u32(num)
        return make(request, payload: writer.bytes)
    }

    /// GET_CONFIG's answer: the request's offset/size/flags echoed, then the config bytes.
    public static func config(_ request: UInt32, offset: UInt32, flags: UInt32, bytes: [UInt8]) -> [UInt8] {
        var writer = PayloadWriter()
        writer.u32(offset)
        writer.u32(UInt32(bytes.count))
        writer.u32(flags)
        return make(request, payload: writer.bytes + bytes)
    }
}

/// Little-endian field reads from a payload whose size was checked.
struct PayloadReader {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    func u32(_ offset: Int) -> UInt32 {
        bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    }
    func u64(_ offset: Int) -> UInt64 {
        bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
    }
}

/// Little-endian field writes.
public struct PayloadWriter {
    public private(set) var bytes: [UInt8] = []
    public init() {}
    public mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    public mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
}
