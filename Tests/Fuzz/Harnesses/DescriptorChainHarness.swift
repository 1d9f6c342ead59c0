import GuestSys
@testable import VsockBridge

/// Split virtqueues in guest memory the input writes: descriptor tables, indirect tables, available rings
/// and the buffers they point at are all the guest's, so all of it is hostile. The memory is two regions
/// (adjacent in guest-physical space, apart in QEMU's) so chains also cross a region boundary. First the
/// ring alone (pop, read, write, push), then the vsock device consuming a tx ring and filling an rx ring
/// through the muxer.
enum DescriptorChainHarness {
    static let regionSize = 0x4000
    static let userBase: UInt64 = 0x7f00_0000_0000
    static var loop: EventLoop? { FuzzHarness.eventLoop }

    static func run(_ input: FuzzInput) {
        var input = input
        let mode = input.byte()
        let size = UInt16(1) << UInt16(input.byte() % 9)   // 1 to 256 entries
        let features = VirtqueueFeatures(eventIndex: mode & 1 != 0, indirectDescriptors: mode & 2 != 0)
        let nextAvailable = input.u16()
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 2 * regionSize, alignment: 4096)
        defer { raw.deallocate() }
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: 2 * regionSize)
        let image = input.rest()
        image.withUnsafeBytes { raw.copyMemory(from: $0.baseAddress!, byteCount: min($0.count, 2 * regionSize)) }
        let memory = GuestMemory(regions: [
            GuestMemoryRegion(guestAddress: 0, size: UInt64(regionSize), userAddress: userBase, host: raw),
            GuestMemoryRegion(guestAddress: UInt64(regionSize), size: UInt64(regionSize), userAddress: userBase + 0x10_0000,
                              host: raw + regionSize),
        ])
        // Tables at fixed places in the first region (descriptors at 0, avail at 0x1000, used at 0x2000),
        // or at an address from the input, checked like SET_VRING_ADDR's.
        let descriptors = mode & 4 != 0 ? userBase + UInt64(image.count % regionSize) : userBase
        if mode & 8 == 0 {
            consumeRing(memory: memory, size: size, descriptors: descriptors, features: features, nextAvailable: nextAvailable)
        } else {
            runDevice(memory: memory, size: size, features: features, nextAvailable: nextAvailable)
        }
    }

    static func ring(_ memory: GuestMemory, size: UInt16, descriptors: UInt64, available: UInt64, used: UInt64,
                     features: VirtqueueFeatures, nextAvailable: UInt16) -> Virtqueue? {
        try? Virtqueue(memory: memory, size: size, descriptorsAt: descriptors, availableAt: available, usedAt: used,
                       features: features, nextAvailable: nextAvailable)
    }

    static func consumeRing(memory: GuestMemory, size: UInt16, descriptors: UInt64, features: VirtqueueFeatures,
                            nextAvailable: UInt16) {
        guard let queue = ring(memory, size: size, descriptors: descriptors, available: userBase + 0x1000,
                               used: userBase + 0x2000, features: features, nextAvailable: nextAvailable) else { return }
        var scratch = [UInt8](repeating: 0, count: 512)
        for _ in 0..<(2 * Int(size) + 2) {
            let buffer: AvailableBuffer?
            do { buffer = try queue.pop() } catch { return }
            guard let buffer else { break }
            switch buffer {
            case .malformed(let head, _):
                fuzzCheck(head < size, "malformed chain head \(head) outside a ring of \(size)")
                queue.push(head: head, length: 0)
            case .chain(let chain):
                fuzzCheck(chain.head < size, "chain head \(chain.head) outside a ring of \(size)")
                let got = scratch.withUnsafeMutableBytes { chain.read(into: $0, from: 3) }
                fuzzCheck(got <= max(0, chain.readableLength - 3), "read more than the chain holds")
                let slices = chain.readableSlices(from: 1, length: 100)
                fuzzCheck(slices.reduce(0) { $0 + $1.count } <= 100, "slices longer than asked")
                let wrote = scratch.withUnsafeBytes { chain.write($0, at: 7) }
                fuzzCheck(wrote <= max(0, chain.writableLength - 7), "wrote more than the chain has room for")
                queue.push(head: chain.head, length: UInt32(wrote))
            }
            _ = queue.needsInterrupt()
        }
        _ = queue.armKick()
    }

    /// The vsock device on a tx ring (queue 1, region 0's tables) and an rx ring (queue 0, region 1's).
    static func runDevice(memory: GuestMemory, size: UInt16, features: VirtqueueFeatures, nextAvailable: UInt16) {
        guard let loop,
              let tx = ring(memory, size: size, descriptors: userBase, available: userBase + 0x1000, used: userBase + 0x2000,
                            features: features, nextAvailable: nextAvailable),
              let rx = ring(memory, size: size, descriptors: userBase + 0x10_0000, available: userBase + 0x10_1000,
                            used: userBase + 0x10_2000, features: features, nextAvailable: nextAvailable),
              let rxKick = try? EventCounter(), let txKick = try? EventCounter() else { return }
        defer {
            rxKick.fd.closeQuietly()
            txKick.fd.closeQuietly()
        }
        let log = BridgeLog(level: .debug, sink: { _ in })
        let muxer = VsockMuxer(guestCID: 3, udsPath: "/nonexistent-guestkit-fuzz/v.sock", loop: loop, log: log)
        let device = VsockDevice(muxer: muxer, loop: loop, log: log)
        // Starting the queues processes them at once: every tx packet, then rx buffers for the replies.
        device.queueStarted(VsockDevice.rxQueue, queue: rx, kick: rxKick, call: nil)
        device.queueStarted(VsockDevice.txQueue, queue: tx, kick: txKick, call: nil)
        device.processTx()
        device.processRx()
        device.reset(reason: "fuzz input done")
    }

    static var seeds: [[UInt8]] {
        // A ring of 4 in region 0: descriptor 0 → 2 KiB buffer at 0x3000 (readable, NEXT → 1), descriptor
        // 1 → 256 bytes at 0x3800 (writable); avail.idx 1 with ring[0] = 0.
        func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
        func le32(_ v: UInt32) -> [UInt8] { le16(UInt16(v & 0xffff)) + le16(UInt16(v >> 16)) }
        func le64(_ v: UInt64) -> [UInt8] { le32(UInt32(v & 0xffff_ffff)) + le32(UInt32(v >> 32)) }
        func descriptor(_ address: UInt64, _ length: UInt32, _ flags: UInt16, _ next: UInt16) -> [UInt8] {
            le64(address) + le32(length) + le16(flags) + le16(next)
        }
        var image = [UInt8](repeating: 0, count: 0x3000 + 0x900)
        func put(_ bytes: [UInt8], at offset: Int) { image.replaceSubrange(offset..<offset + bytes.count, with: bytes) }
        put(descriptor(0x3000, 0x800, 1, 1) + descriptor(0x3800, 0x100, 2, 0), at: 0)
        put(le16(0) + le16(1) + le16(0), at: 0x1000)
        // A vsock REQUEST header in the readable buffer, for the device mode.
        put(VsockHeader(srcCID: 3, dstCID: 2, srcPort: 40_000, dstPort: 7000, op: .request, bufAlloc: 65536).bytes, at: 0x3000)
        var indirect = image
        // Descriptor 2: an indirect table of two entries at 0x3400, when INDIRECT is offered.
        indirect.replaceSubrange(32..<48, with: descriptor(0x3400, 32, 4, 0))
        indirect.replaceSubrange(0x3400..<0x3420, with: descriptor(0x3000, 64, 1, 1) + descriptor(0x3fc0, 0x80, 2, 0))
        indirect.replaceSubrange(0x1004..<0x1006, with: le16(2))
        return [
            [0x00, 2, 0, 0] + image,
            [0x03, 2, 0, 0] + indirect,
            [0x08, 2, 0, 0] + image,
            [0x0b, 2, 0, 0] + indirect,
        ]
    }
}
