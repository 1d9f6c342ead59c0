// The virtio-vsock device on its rings (virtio spec 1.2, 5.10 "Socket Device"): queue 0 (rx) holds
// empty buffers the guest gives us for packets to it, queue 1 (tx) the guest's packets to us. Queue 2
// (events) stays with QEMU, which handles it itself for vhost-user-vsock. Config space is the guest's
// CID as a little-endian u64.
//
// Each tx chain is one packet: the 44-byte header, then `len` payload bytes, possibly spread over several
// descriptors (Linux puts header and payload in separate ones). Each rx chain receives one packet.
import GuestSys

/// The vsock device: moves packets between the rings and the muxer.
public final class VsockDevice: VhostUserDevice {
    public static let rxQueue = 0
    public static let txQueue = 1

    private let muxer: VsockMuxer
    private let loop: EventLoop
    private let log: BridgeLog
    private var queues: [Virtqueue?] = [nil, nil]
    private var kicks: [EventCounter?] = [nil, nil]
    private var calls: [EventCounter?] = [nil, nil]
    /// A queue whose ring broke (impossible indices): no more processing until it is set up again.
    private var broken: [Bool] = [false, false]

    /// Counters for tests and the log.
    public private(set) var packetsFromGuest = 0
    public private(set) var packetsToGuest = 0

    public init(muxer: VsockMuxer, loop: EventLoop, log: BridgeLog) {
        self.muxer = muxer
        self.loop = loop
        self.log = log
    }

    // MARK: VhostUserDevice

    public var deviceFeatures: UInt64 { 0 }
    public var queueCount: Int { 2 }

    public func configSpace() -> [UInt8] {
        var writer = PayloadWriter()
        writer.u64(muxer.guestCID)
        return writer.bytes
    }

    public func queueStarted(_ index: Int, queue: Virtqueue, kick: EventCounter, call: EventCounter?) {
        queues[index] = queue
        kicks[index] = kick
        calls[index] = call
        broken[index] = false
        do throws(SysError) {
            try loop.add(kick.fd, .readable) { [unowned self] _ in
                _ = try? kick.drain()
                self.process(index)
            }
        } catch {
            log.error("watching the kick eventfd of queue \(index): \(error)")
        }
        muxer.deviceRunning = queues[Self.rxQueue] != nil && queues[Self.txQueue] != nil
        if muxer.deviceRunning { log.info("guest vsock device running (CID \(muxer.guestCID))") }
        process(index)
    }

    public func callChanged(_ index: Int, call: EventCounter?) {
        calls[index] = call
    }

    public func queueStopped(_ index: Int) {
        if let kick = kicks[index] { loop.remove(kick.fd) }
        queues[index] = nil
        kicks[index] = nil
        calls[index] = nil
        if muxer.deviceRunning {
            muxer.deviceRunning = false
            // The guest's driver stopped or reset: its sockets are gone, so are ours.
            muxer.closeAll(reason: "the guest's vsock device stopped")
        }
    }

    public func reset(reason: String) {
        for index in queues.indices where queues[index] != nil { queueStopped(index) }
        muxer.deviceRunning = false
        muxer.closeAll(reason: reason)
    }

    // MARK: Rings

    private func process(_ index: Int) {
        if index == Self.txQueue { processTx() }
        processRx()
    }

    /// Consumes every packet the guest has queued, then delivers what the muxer has for the guest.
    public func processTx() {
        guard let queue = queues[Self.txQueue], !broken[Self.txQueue] else { return }
        var returned = 0
        var header = [UInt8](repeating: 0, count: VsockHeader.size)
        do throws(VirtqueueError) {
            repeat {
                while let buffer = try queue.pop() {
                    switch buffer {
                    case .malformed(let head, let reason):
                        log.warning("tx: dropping malformed descriptor chain \(head): \(reason)")
                        queue.push(head: head, length: 0)
                    case .chain(let chain):
                        handleTx(chain, scratch: &header)
                        queue.push(head: chain.head, length: 0)
                    }
                    returned += 1
                }
            } while queue.armKick()
        } catch {
            markBroken(Self.txQueue, error)
        }
        if returned > 0 { interrupt(Self.txQueue) }
    }

    private func handleTx(_ chain: DescriptorChain, scratch: inout [UInt8]) {
        let got = scratch.withUnsafeMutableBytes { chain.read(into: $0) }
        guard got == VsockHeader.size, let header = VsockHeader(scratch) else {
            log.warning("tx: packet of \(chain.readableLength) bytes is shorter than a vsock header; dropped")
            return
        }
        let payloadLength = header.op == .rw ? Int(header.length) : 0
        let payload = chain.readableSlices(from: VsockHeader.size, length: payloadLength)
        let present = payload.reduce(0) { $0 + $1.count }
        guard present == payloadLength else {
            muxer.rejectMalformed(header, reason: "packet carries \(present) payload bytes, not \(payloadLength)")
            return
        }
        packetsFromGuest += 1
        log.debug("tx: \(header)")
        muxer.handleGuestPacket(header, payload: payload)
    }

    /// Fills rx buffers while the muxer has packets and the guest has buffers.
    public func processRx() {
        guard let queue = queues[Self.rxQueue], !broken[Self.rxQueue] else { return }
        var returned = 0
        do throws(VirtqueueError) {
            while muxer.hasPendingRx {
                guard let buffer = try queue.pop() else {
                    if queue.armKick() { continue }
                    break
                }
                switch buffer {
                case .malformed(let head, let reason):
                    log.warning("rx: dropping malformed descriptor chain \(head): \(reason)")
                    queue.push(head: head, length: 0)
                case .chain(let chain):
                    guard chain.writableLength >= VsockHeader.size else {
                        log.warning("rx: buffer \(chain.head) has \(chain.writableLength) writable bytes, less than a header")
                        queue.push(head: chain.head, length: 0)
                        break
                    }
                    let used = muxer.emit(into: chain) ?? 0
                    queue.push(head: chain.head, length: UInt32(used))
                    if used > 0 { packetsToGuest += 1 }
                }
                returned += 1
            }
        } catch {
            markBroken(Self.rxQueue, error)
        }
        if returned > 0 { interrupt(Self.rxQueue) }
    }

    private func interrupt(_ index: Int) {
        guard let queue = queues[index], queue.needsInterrupt(), let call = calls[index] else { return }
        do throws(SysError) { try call.signal() } catch {
            log.error("signalling queue \(index)'s call eventfd: \(error)")
        }
    }

    private func markBroken(_ index: Int, _ error: VirtqueueError) {
        broken[index] = true
        log.error("queue \(index) stopped: \(error.description); the guest driver must reset the device")
        muxer.closeAll(reason: "queue \(index) broke")
    }
}
