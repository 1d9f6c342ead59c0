// The virtio-vsock wire format: the 44-byte little-endian header every packet starts with
// (virtio spec 1.2, 5.10.6 "Device Operation", struct virtio_vsock_hdr; Linux
// include/uapi/linux/virtio_vsock.h). Payload bytes follow the header in the same descriptor chain.
//
//   offset  size  field
//        0     8  src_cid
//        8     8  dst_cid
//       16     4  src_port
//       20     4  dst_port
//       24     4  len        payload bytes after the header
//       28     2  type       1 = VIRTIO_VSOCK_TYPE_STREAM, 2 = SEQPACKET (not offered)
//       30     2  op         VsockOp
//       32     4  flags      SHUTDOWN: VsockShutdown bits
//       36     4  buf_alloc  sender's receive buffer for this connection
//       40     4  fwd_cnt    bytes the sender has consumed from it so far

/// The operation a vsock packet carries (virtio spec: VIRTIO_VSOCK_OP_*).
public enum VsockOp: UInt16, Sendable, CustomStringConvertible {
    case request = 1
    case response = 2
    case rst = 3
    case shutdown = 4
    case rw = 5
    case creditUpdate = 6
    case creditRequest = 7

    public var description: String {
        switch self {
        case .request: return "REQUEST"
        case .response: return "RESPONSE"
        case .rst: return "RST"
        case .shutdown: return "SHUTDOWN"
        case .rw: return "RW"
        case .creditUpdate: return "CREDIT_UPDATE"
        case .creditRequest: return "CREDIT_REQUEST"
        }
    }
}

/// SHUTDOWN flags (VIRTIO_VSOCK_SHUTDOWN_RCV / _SEND): what the sender will no longer do.
public struct VsockShutdown: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The sender will not receive any more data.
    public static let receive = VsockShutdown(rawValue: 1)
    /// The sender will not send any more data.
    public static let send = VsockShutdown(rawValue: 2)
    public static let both: VsockShutdown = [.receive, .send]
}

/// A decoded virtio-vsock packet header.
public struct VsockHeader: Equatable, Sendable, CustomStringConvertible {
    public static let size = 44
    /// VIRTIO_VSOCK_TYPE_STREAM.
    public static let streamType: UInt16 = 1
    /// VMADDR_CID_HOST: the address the guest uses for the host side.
    public static let hostCID: UInt64 = 2

    public var srcCID: UInt64
    public var dstCID: UInt64
    public var srcPort: UInt32
    public var dstPort: UInt32
    public var length: UInt32
    public var type: UInt16
    /// The raw op; `op` decodes it (an unknown value is a malformed packet, not a crash).
    public var rawOp: UInt16
    public var flags: UInt32
    public var bufAlloc: UInt32
    public var fwdCnt: UInt32

    public init(srcCID: UInt64, dstCID: UInt64, srcPort: UInt32, dstPort: UInt32, length: UInt32 = 0,
                type: UInt16 = VsockHeader.streamType, op: VsockOp, flags: UInt32 = 0, bufAlloc: UInt32 = 0,
                fwdCnt: UInt32 = 0) {
        self.srcCID = srcCID
        self.dstCID = dstCID
        self.srcPort = srcPort
        self.dstPort = dstPort
        self.length = length
        self.type = type
        self.rawOp = op.rawValue
        self.flags = flags
        self.bufAlloc = bufAlloc
        self.fwdCnt = fwdCnt
    }

    public var op: VsockOp? { VsockOp(rawValue: rawOp) }

    /// Decodes the first 44 bytes of `bytes`; nil when fewer are given.
    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.size else { return nil }
        srcCID = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        dstCID = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        srcPort = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
        dstPort = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 20, as: UInt32.self))
        length = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 24, as: UInt32.self))
        type = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 28, as: UInt16.self))
        rawOp = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 30, as: UInt16.self))
        flags = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 32, as: UInt32.self))
        bufAlloc = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 36, as: UInt32.self))
        fwdCnt = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 40, as: UInt32.self))
    }

    public init?(_ bytes: [UInt8]) {
        guard let header = bytes.withUnsafeBytes({ VsockHeader($0) }) else { return nil }
        self = header
    }

    /// Encodes into the first 44 bytes of `buffer` (which must hold them).
    public func encode(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= Self.size, "a vsock header needs \(Self.size) bytes")
        buffer.storeBytes(of: srcCID.littleEndian, toByteOffset: 0, as: UInt64.self)
        buffer.storeBytes(of: dstCID.littleEndian, toByteOffset: 8, as: UInt64.self)
        buffer.storeBytes(of: srcPort.littleEndian, toByteOffset: 16, as: UInt32.self)
        buffer.storeBytes(of: dstPort.littleEndian, toByteOffset: 20, as: UInt32.self)
        buffer.storeBytes(of: length.littleEndian, toByteOffset: 24, as: UInt32.self)
        buffer.storeBytes(of: type.littleEndian, toByteOffset: 28, as: UInt16.self)
        buffer.storeBytes(of: rawOp.littleEndian, toByteOffset: 30, as: UInt16.self)
        buffer.storeBytes(of: flags.littleEndian, toByteOffset: 32, as: UInt32.self)
        buffer.storeBytes(of: bufAlloc.littleEndian, toByteOffset: 36, as: UInt32.self)
        buffer.storeBytes(of: fwdCnt.littleEndian, toByteOffset: 40, as: UInt32.self)
    }

    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.size)
        out.withUnsafeMutableBytes { encode(into: $0) }
        return out
    }

    public var description: String {
        let name = op.map { "\($0)" } ?? "op \(rawOp)"
        var text = "\(name) \(srcCID):\(srcPort) -> \(dstCID):\(dstPort)"
        if length > 0 { text += " len \(length)" }
        if flags != 0 { text += " flags \(flags)" }
        return text + " buf_alloc \(bufAlloc) fwd_cnt \(fwdCnt)"
    }
}
