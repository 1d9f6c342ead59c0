// The back-end side of one vhost-user session (QEMU docs/interop/vhost-user.rst): feature negotiation,
// the guest memory table, vring setup, starting and stopping rings, device config. It knows nothing of
// vsock: a `VhostUserDevice` gets the rings once they run and supplies the config space.
//
// Ring life (vhost-user.rst, "Starting and stopping rings"): a ring starts once it has its size,
// addresses and kick eventfd and is enabled. When VHOST_USER_F_PROTOCOL_FEATURES was negotiated, rings
// begin disabled and SET_VRING_ENABLE turns them on; otherwise they begin enabled. GET_VRING_BASE stops a
// ring and returns where the device stopped consuming (the next available index); QEMU sends it when the
// guest driver resets the device or the VM stops. The next SET_VRING_KICK starts the ring again.
//
// What QEMU 7.2 sends for `vhost-user-vsock-pci` (seen with `--verbose` on this machine): at realize
// GET_FEATURES, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, SET_OWNER, GET_FEATURES, SET_VRING_CALL and
// SET_VRING_ERR per ring, GET_CONFIG; when the guest driver starts: SET_VRING_CALL per ring, SET_FEATURES,
// SET_MEM_TABLE (with NEED_REPLY; q35 gives two regions of one memfd, split around the VGA hole), then per
// ring SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR, SET_VRING_KICK, then SET_VRING_ENABLE per ring and
// SET_VRING_CALL again; on guest reset or VM stop, GET_VRING_BASE per ring.
// Only the rx and tx queues come here: QEMU keeps the event queue itself.
import GuestSys

/// A virtio device served over vhost-user.
public protocol VhostUserDevice: AnyObject {
    /// Device-specific feature bits offered besides the ring and vhost-user ones.
    var deviceFeatures: UInt64 { get }
    /// How many virtqueues the back-end handles.
    var queueCount: Int { get }
    /// The device's config space (GET_CONFIG reads ranges of it).
    func configSpace() -> [UInt8]
    /// A ring runs: consume it until `queueStopped`. `call` is the interrupt eventfd, if QEMU gave one.
    func queueStarted(_ index: Int, queue: Virtqueue, kick: EventCounter, call: EventCounter?)
    /// QEMU replaced a running ring's interrupt eventfd.
    func callChanged(_ index: Int, call: EventCounter?)
    /// The ring stops; the device must forget it (its memory may be unmapped next).
    func queueStopped(_ index: Int)
    /// The device is reset or the front-end went away: drop all device state.
    func reset(reason: String)
}

/// One vhost-user session with QEMU.
public final class VhostUserBackend {
    /// A ring as QEMU configures it, before and while it runs.
    struct Vring {
        var size: UInt16 = 0
        var address: VhostUserVringAddress?
        var base: UInt16 = 0
        var kick: FileDescriptor?
        var call: FileDescriptor?
        var error: FileDescriptor?
        var enabled = false
        var queue: Virtqueue?
    }

    public let channel: VhostUserChannel
    private let device: VhostUserDevice
    private let log: BridgeLog
    public let offeredFeatures: UInt64
    public let offeredProtocolFeatures: UInt64 = VhostUserProtocolFeature.replyAck | VhostUserProtocolFeature.config
        | VhostUserProtocolFeature.resetDevice
    public private(set) var ackedFeatures: UInt64 = 0
    public private(set) var ackedProtocolFeatures: UInt64 = 0
    private var memory: GuestMemory?
    private var vrings: [Vring]
    /// Requests seen, for the log and tests.
    public private(set) var requestsHandled = 0

    /// `ringFeatures` chooses whether EVENT_IDX and INDIRECT_DESC are offered.
    public init(channel: VhostUserChannel, device: VhostUserDevice, log: BridgeLog,
                ringFeatures: VirtqueueFeatures = VirtqueueFeatures(eventIndex: true, indirectDescriptors: true)) {
        self.channel = channel
        self.device = device
        self.log = log
        vrings = Array(repeating: Vring(), count: device.queueCount)
        var features = VirtioFeature.version1 | VirtioFeature.protocolFeatures | device.deviceFeatures
        if ringFeatures.eventIndex { features |= VirtioFeature.eventIndex }
        if ringFeatures.indirectDescriptors { features |= VirtioFeature.indirectDescriptors }
        offeredFeatures = features
    }

    public var runningQueues: Int { vrings.filter { $0.queue != nil }.count }

    private var protocolFeaturesNegotiated: Bool { ackedFeatures & VirtioFeature.protocolFeatures != 0 }

    /// Reads and handles what has arrived: every complete request. Returns false when QEMU has gone (end
    /// of file); throws when the stream is broken beyond one message. Never waits for the rest of a
    /// message: that is handled when it arrives.
    public func handleAvailable() throws(VhostUserError) -> Bool {
        while true {
            switch try channel.receive() {
            case .closed: return false
            case .incomplete: return true
            case .message(let message): try handle(received: message)
            }
        }
    }

    private func handle(received message: VhostUserMessage) throws(VhostUserError) {
        requestsHandled += 1
        log.debug("← \(message.name) flags 0x\(String(message.header.flags, radix: 16)) size \(message.header.size) fds \(message.descriptors.count)")
        let ownReply: [UInt8]?
        var succeeded = true
        do throws(VhostUserError) {
            ownReply = try handle(message)
        } catch {
            log.error("\(message.name): \(error.description)")
            ownReply = nil
            succeeded = false
        }
        if let ownReply {
            try channel.send(ownReply)
        } else if message.header.needsReply && ackedProtocolFeatures & VhostUserProtocolFeature.replyAck != 0 {
            try channel.send(VhostUserReply.u64(message.header.request, succeeded ? 0 : 1))
        }
    }

    /// Handles a request; returns the reply for requests that have one of their own.
    func handle(_ message: VhostUserMessage) throws(VhostUserError) -> [UInt8]? {
        let code = message.header.request
        guard let request = message.request else {
            throw VhostUserError("unknown request \(code) (payload \(message.header.size) bytes) ignored")
        }
        switch request {
        case .getFeatures:
            return VhostUserReply.u64(code, offeredFeatures)
        case .setFeatures:
            let features = try message.u64()
            if features & ~offeredFeatures != 0 {
                log.warning("QEMU acked features 0x\(String(features & ~offeredFeatures, radix: 16)) that were not offered")
            }
            ackedFeatures = features & offeredFeatures
        case .getProtocolFeatures:
            return VhostUserReply.u64(code, offeredProtocolFeatures)
        case .setProtocolFeatures:
            ackedProtocolFeatures = try message.u64() & offeredProtocolFeatures
        case .setOwner:
            break
        case .resetOwner, .resetDevice:
            resetAll(reason: "QEMU sent \(request.specName)")
        case .setMemTable:
            try setMemoryTable(message)
        case .setVringNum:
            let (index, num) = try message.vringState()
            try checkIndex(index, message)
            guard num > 0, num <= 32768, num & (num - 1) == 0 else {
                throw VhostUserError("ring \(index) size \(num) is not a power of two up to 32768")
            }
            vrings[Int(index)].size = UInt16(num)
        case .setVringAddr:
            let address = try message.vringAddress()
            try checkIndex(address.index, message)
            vrings[Int(address.index)].address = address
        case .setVringBase:
            let (index, num) = try message.vringState()
            try checkIndex(index, message)
            vrings[Int(index)].base = UInt16(truncatingIfNeeded: num)
        case .getVringBase:
            let (index, _) = try message.vringState()
            try checkIndex(index, message)
            let base = stop(Int(index))
            vrings[Int(index)].kick?.closeQuietly()
            vrings[Int(index)].kick = nil
            return VhostUserReply.vringState(code, index: index, num: UInt32(base))
        case .setVringKick, .setVringCall, .setVringErr:
            try setRingDescriptor(request, message)
        case .setVringEnable:
            let (index, num) = try message.vringState()
            try checkIndex(index, message)
            vrings[Int(index)].enabled = num != 0
            if num == 0 { _ = stop(Int(index)) } else { refresh(Int(index)) }
        case .getQueueNum:
            return VhostUserReply.u64(code, UInt64(device.queueCount))
        case .getConfig:
            let (offset, size, flags) = try message.configRequest()
            let space = device.configSpace()
            guard Int(offset) + Int(size) <= space.count else {
                log.warning("GET_CONFIG of \(size) bytes at \(offset): the config space has \(space.count)")
                return VhostUserReply.config(code, offset: offset, flags: flags, bytes: [])
            }
            return VhostUserReply.config(code, offset: offset, flags: flags,
                                         bytes: Array(space[Int(offset)..<Int(offset + size)]))
        case .setConfig:
            throw VhostUserError("the vsock config space is read-only")
        default:
            throw VhostUserError("\(request.specName) is not supported by this back-end (payload \(message.header.size) bytes) and was ignored")
        }
        return nil
    }

    private func checkIndex(_ index: UInt32, _ message: VhostUserMessage) throws(VhostUserError) {
        guard Int(index) < vrings.count else {
            throw VhostUserError("\(message.name) names ring \(index); this device has \(vrings.count)")
        }
    }

    private func setMemoryTable(_ message: VhostUserMessage) throws(VhostUserError) {
        let table = try message.memoryTable()
        let fds = message.descriptors.compactMap { $0.take() }
        defer { for fd in fds { fd.closeQuietly() } }  // the mappings keep the memory; the fds can go
        let mapped = try GuestMemory.map(table, fds: fds)
        let running = vrings.indices.filter { vrings[$0].queue != nil }
        for index in running { _ = stop(index) }
        memory = mapped
        for region in table {
            log.debug("memory region guest 0x\(String(region.guestAddress, radix: 16)) size 0x\(String(region.size, radix: 16)) qemu 0x\(String(region.userAddress, radix: 16)) offset 0x\(String(region.mmapOffset, radix: 16))")
        }
        for index in vrings.indices { refresh(index) }
    }

    private func setRingDescriptor(_ request: VhostUserRequest, _ message: VhostUserMessage) throws(VhostUserError) {
        let value = try message.u64()
        let index = UInt32(value & 0xff)
        try checkIndex(index, message)
        let noDescriptor = value & 0x100 != 0
        let fd = noDescriptor ? nil : message.descriptors.first?.take()
        if !noDescriptor && fd == nil { throw VhostUserError("\(message.name) for ring \(index) came without a file descriptor") }
        let i = Int(index)
        switch request {
        case .setVringKick:
            _ = stop(i)
            vrings[i].kick?.closeQuietly()
            vrings[i].kick = fd
            if fd == nil { throw VhostUserError("ring \(index) without a kick eventfd (polling mode) is not supported") }
            refresh(i)
        case .setVringCall:
            vrings[i].call?.closeQuietly()
            vrings[i].call = fd
            if vrings[i].queue != nil { device.callChanged(i, call: fd.map { EventCounter(adopting: $0) }) }
        default:
            // Nothing here reports ring errors; keep the descriptor so QEMU's side stays valid.
            vrings[i].error?.closeQuietly()
            vrings[i].error = fd
        }
    }

    /// Starts a ring if it has everything it needs.
    private func refresh(_ index: Int) {
        let ring = vrings[index]
        guard ring.queue == nil, let memory, let address = ring.address, ring.size > 0, let kick = ring.kick,
              ring.enabled || !protocolFeaturesNegotiated else { return }
        let features = VirtqueueFeatures(eventIndex: ackedFeatures & VirtioFeature.eventIndex != 0,
                                         indirectDescriptors: ackedFeatures & VirtioFeature.indirectDescriptors != 0)
        do throws(VirtqueueError) {
            let queue = try Virtqueue(memory: memory, size: ring.size, descriptorsAt: address.descriptors,
                                      availableAt: address.available, usedAt: address.used, features: features,
                                      nextAvailable: ring.base)
            vrings[index].queue = queue
            log.debug("ring \(index) started: size \(ring.size), base \(ring.base), event idx \(features.eventIndex), indirect \(features.indirectDescriptors)")
            device.queueStarted(index, queue: queue, kick: EventCounter(adopting: kick),
                                call: ring.call.map { EventCounter(adopting: $0) })
        } catch {
            log.error("ring \(index) cannot start: \(error.description)")
        }
    }

    /// Stops a ring; returns the index to resume from.
    private func stop(_ index: Int) -> UInt16 {
        guard let queue = vrings[index].queue else { return vrings[index].base }
        device.queueStopped(index)
        vrings[index].queue = nil
        vrings[index].base = queue.nextAvailable
        log.debug("ring \(index) stopped at \(queue.nextAvailable)")
        return queue.nextAvailable
    }

    private func resetAll(reason: String) {
        for index in vrings.indices { _ = stop(index) }
        device.reset(reason: reason)
        for ring in vrings {
            ring.kick?.closeQuietly()
            ring.call?.closeQuietly()
            ring.error?.closeQuietly()
        }
        vrings = Array(repeating: Vring(), count: device.queueCount)
        memory = nil
        ackedFeatures = 0
    }

    /// QEMU went away: stop everything and release its descriptors and memory.
    public func close(reason: String) {
        resetAll(reason: reason)
        channel.fd.closeQuietly()
    }
}
