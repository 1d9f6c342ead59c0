import GuestSys
@testable import VsockBridge

/// A hostile vhost-user front-end: the input is a sequence of messages (header and payload exactly as the
/// front-end would write them, split anywhere), sent over a socket pair to a back-end serving the real
/// vsock device. Where a request expects descriptors they come along: guest memory (a file the input also
/// fills) for SET_MEM_TABLE, eventfds for the vring KICK/CALL/ERR requests. The back-end may refuse
/// anything, but must not trap, hang or leak, and every reply must be a well-formed vhost-user reply.
enum VhostUserHarness {
    static let memorySize: Int64 = 0x10_0000
    static var loop: EventLoop? { FuzzHarness.eventLoop }
    /// Guest RAM: one file, filled per input, sent as each region's descriptor.
    static let memory: FileDescriptor? = {
        let path = "/dev/shm/guestkit-fuzz-vhost-\(Processes.currentID)"
        guard let fd = try? FileDescriptor.open(path, [.readWrite, .create, .truncate, .closeOnExec], mode: 0o600) else { return nil }
        try? FileSystem.unlink(path)
        try? fd.truncate(to: memorySize)
        return fd
    }()

    static func run(_ input: FuzzInput) {
        var input = input
        guard let loop, let memory, let (qemu, bridge) = try? Sockets.pair() else { return }
        defer { qemu.closeQuietly() }
        try? qemu.setNonBlocking()
        // The first part of guest memory comes from the input (rings and packets the device will read).
        let image = input.slice(long: true)
        var zeros = [UInt8](repeating: 0, count: 0x4000)
        zeros.replaceSubrange(0..<min(image.count, zeros.count), with: image.prefix(zeros.count))
        _ = zeros.withUnsafeBytes { try? memory.write($0, at: 0) }

        let log = BridgeLog(level: .debug, sink: { _ in })
        let muxer = VsockMuxer(guestCID: 3, udsPath: "/nonexistent-guestkit-fuzz/v.sock", loop: loop, log: log)
        let device = VsockDevice(muxer: muxer, loop: loop, log: log)
        let backend = VhostUserBackend(channel: VhostUserChannel(fd: bridge), device: device, log: log)
        defer { backend.close(reason: "fuzz input done") }

        var connected = true
        while !input.isEmpty && connected {
            let split = Int(input.byte())
            let header = input.take(VhostUserHeader.size)
            var sizeField: UInt32 = 0
            if header.count == VhostUserHeader.size {
                sizeField = UInt32(header[8]) | UInt32(header[9]) << 8 | UInt32(header[10]) << 16 | UInt32(header[11]) << 24
            }
            let payload = input.take(Int(min(sizeField, 4096)))
            let message = header + payload
            let request = header.count >= 4 ? UInt32(header[0]) | UInt32(header[1]) << 8 : 0
            var owned: [FileDescriptor] = []
            defer { owned.forEach { $0.closeQuietly() } }
            switch VhostUserRequest(rawValue: request) {
            case .setMemTable?:
                let regions = payload.count >= 4 ? min(Int(payload[0]), 8) : 0
                owned = (0..<regions).compactMap { _ in try? memory.duplicate() }
            case .setVringKick?, .setVringCall?, .setVringErr?:
                if let counter = try? EventCounter() { owned = [counter.fd] }
            default:
                break
            }
            // Sent in two writes split where the input says: the back-end sees partial messages too.
            let cut = min(split, message.count)
            _ = try? Sockets.send(qemu, Array(message[..<cut]), descriptors: owned)
            do { connected = try backend.handleAvailable() } catch { connected = false }
            if connected, cut < message.count {
                _ = try? Sockets.send(qemu, Array(message[cut...]), descriptors: [])
                do { connected = try backend.handleAvailable() } catch { connected = false }
            }
            drainReplies(qemu)
        }
    }

    /// Reads what the back-end answered and checks each reply's framing.
    static func drainReplies(_ qemu: FileDescriptor) {
        var pending: [UInt8] = []
        while let bytes = try? qemu.read(upTo: 4096), !bytes.isEmpty { pending += bytes }
        while pending.count >= VhostUserHeader.size {
            guard let header = try? VhostUserHeader(Array(pending[..<VhostUserHeader.size])) else {
                fatalError("the back-end sent a reply with a bad header")
            }
            fuzzCheck(header.flags & VhostUserHeader.replyFlag != 0, "a reply without the REPLY flag")
            let total = VhostUserHeader.size + Int(header.size)
            fuzzCheck(pending.count >= total, "a reply shorter than its header says")
            pending.removeFirst(total)
        }
        fuzzCheck(pending.isEmpty, "reply bytes that are not a whole reply")
    }

    static var seeds: [[UInt8]] {
        func message(_ request: VhostUserRequest, _ payload: [UInt8] = [], needReply: Bool = false) -> [UInt8] {
            [255] + VhostUserHeader(request: request.rawValue, flags: VhostUserHeader.version | (needReply ? VhostUserHeader.needReplyFlag : 0),
                                    size: UInt32(payload.count)).bytes + payload
        }
        func u64(_ v: UInt64) -> [UInt8] { var w = PayloadWriter(); w.u64(v); return w.bytes }
        func state(_ index: UInt32, _ num: UInt32) -> [UInt8] { var w = PayloadWriter(); w.u32(index); w.u32(num); return w.bytes }
        let user: UInt64 = 0x7f00_0000_0000
        var table = PayloadWriter()
        table.u32(1); table.u32(0)
        table.u64(0); table.u64(UInt64(memorySize)); table.u64(user); table.u64(0)
        func address(_ index: UInt32, _ base: UInt64) -> [UInt8] {
            var w = PayloadWriter()
            w.u32(index); w.u32(0); w.u64(base); w.u64(base + 0x2000); w.u64(base + 0x1000); w.u64(0)
            return w.bytes
        }
        var session: [UInt8] = [0, 0]  // no memory image
        session += message(.getFeatures) + message(.getProtocolFeatures)
        session += message(.setProtocolFeatures, u64(VhostUserProtocolFeature.replyAck | VhostUserProtocolFeature.config))
        session += message(.setOwner) + message(.getConfig, state(0, 8) + [0, 0, 0, 0] + [UInt8](repeating: 0, count: 8))
        session += message(.setFeatures, u64(VirtioFeature.version1 | VirtioFeature.protocolFeatures | VirtioFeature.eventIndex))
        session += message(.setMemTable, table.bytes, needReply: true)
        for (index, base) in [(UInt32(0), user), (1, user + 0x8000)] {
            session += message(.setVringNum, state(index, 64)) + message(.setVringBase, state(index, 0))
            session += message(.setVringAddr, address(index, base)) + message(.setVringCall, u64(UInt64(index)))
            session += message(.setVringKick, u64(UInt64(index))) + message(.setVringEnable, state(index, 1))
        }
        session += message(.getVringBase, state(0, 0)) + message(.getVringBase, state(1, 0)) + message(.resetDevice)
        var split = session
        split[2] = 5  // the first message in two writes
        return [session, split, [0, 0] + message(.getQueueNum) + message(.setConfig, [1, 2, 3]) + message(.sendRarp)]
    }
}
