// The driver side of a split virtqueue, written the way a guest lays rings out in its RAM: a
// descriptor table, an available ring and a used ring inside a buffer that stands for guest memory,
// with data buffers allocated after them. The bridge's Virtqueue is tested against it.
@testable import VsockBridge

/// Guest RAM for tests: one region at a guest-physical base, seen by "QEMU" at another address.
final class FakeGuestRAM {
    static let guestBase: UInt64 = 0x10_0000
    static let qemuBase: UInt64 = 0x7f00_0000_0000
    let size: Int
    let host: UnsafeMutableRawPointer
    let memory: GuestMemory
    private var nextFree: Int = 0

    init(size: Int = 1 << 20) {
        self.size = size
        host = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        host.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        memory = GuestMemory(regions: [GuestMemoryRegion(guestAddress: Self.guestBase, size: UInt64(size),
                                                         userAddress: Self.qemuBase, host: host)])
    }

    deinit { host.deallocate() }

    /// Allocates guest memory; returns its guest-physical address.
    func allocate(_ count: Int, alignment: Int = 16) -> UInt64 {
        nextFree = (nextFree + alignment - 1) / alignment * alignment
        let address = Self.guestBase + UInt64(nextFree)
        nextFree += count
        precondition(nextFree <= size, "fake guest RAM exhausted")
        return address
    }

    func pointer(_ guestAddress: UInt64) -> UnsafeMutableRawPointer { host + Int(guestAddress - Self.guestBase) }
    func qemuAddress(_ guestAddress: UInt64) -> UInt64 { guestAddress - Self.guestBase + Self.qemuBase }

    func write(_ bytes: [UInt8], at guestAddress: UInt64) {
        bytes.withUnsafeBytes { pointer(guestAddress).copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
    }

    func read(_ count: Int, at guestAddress: UInt64) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: pointer(guestAddress), count: count))
    }
}

/// One buffer of a chain as the driver describes it.
enum Segment {
    case readable([UInt8])
    case writable(Int)
}

/// A guest driver for one split virtqueue.
final class GuestRingDriver {
    let ram: FakeGuestRAM
    let size: UInt16
    let descriptors: UInt64
    let available: UInt64
    let used: UInt64
    private(set) var availableIndex: UInt16 = 0
    private(set) var lastUsedSeen: UInt16 = 0
    private var nextDescriptor: UInt16 = 0
    /// Where each chain's writable buffers are, by head, so tests can read what the device wrote.
    private(set) var writableBuffers: [UInt16: [(UInt64, Int)]] = [:]

    init(ram: FakeGuestRAM, size: UInt16, startIndex: UInt16 = 0) {
        self.ram = ram
        self.size = size
        descriptors = ram.allocate(Virtqueue.descriptorTableBytes(size), alignment: 16)
        available = ram.allocate(Virtqueue.availableRingBytes(size), alignment: 2)
        used = ram.allocate(Virtqueue.usedRingBytes(size), alignment: 4)
        availableIndex = startIndex
        lastUsedSeen = startIndex
        store(startIndex, at: available + 2)
        store(startIndex, at: used + 2)
    }

    /// The device's view, as vhost-user would set it up (QEMU addresses).
    func makeQueue(features: VirtqueueFeatures = VirtqueueFeatures()) throws -> Virtqueue {
        try Virtqueue(memory: ram.memory, size: size, descriptorsAt: ram.qemuAddress(descriptors),
                      availableAt: ram.qemuAddress(available), usedAt: ram.qemuAddress(used), features: features,
                      nextAvailable: availableIndex)
    }

    func store(_ value: UInt16, at address: UInt64) { ram.pointer(address).storeBytes(of: value.littleEndian, as: UInt16.self) }
    func load16(_ address: UInt64) -> UInt16 { UInt16(littleEndian: ram.pointer(address).loadUnaligned(as: UInt16.self)) }
    func load32(_ address: UInt64) -> UInt32 { UInt32(littleEndian: ram.pointer(address).loadUnaligned(as: UInt32.self)) }

    /// Writes descriptor `index` of a table at `table`.
    func writeDescriptor(table: UInt64, index: Int, address: UInt64, length: UInt32, flags: UInt16, next: UInt16) {
        let entry = ram.pointer(table + UInt64(16 * index))
        entry.storeBytes(of: address.littleEndian, as: UInt64.self)
        entry.storeBytes(of: length.littleEndian, toByteOffset: 8, as: UInt32.self)
        entry.storeBytes(of: flags.littleEndian, toByteOffset: 12, as: UInt16.self)
        entry.storeBytes(of: next.littleEndian, toByteOffset: 14, as: UInt16.self)
    }

    /// Lays out buffers for `segments` and returns (address, length, flags) per descriptor.
    private func layout(_ segments: [Segment]) -> [(UInt64, UInt32, UInt16)] {
        segments.map { segment in
            switch segment {
            case .readable(let bytes):
                let address = ram.allocate(max(bytes.count, 1))
                ram.write(bytes, at: address)
                return (address, UInt32(bytes.count), 0)
            case .writable(let count):
                return (ram.allocate(count), UInt32(count), Virtqueue.descriptorWrite)
            }
        }
    }

    /// Publishes a chain, directly in the table or through one indirect descriptor; returns its head.
    @discardableResult
    func add(_ segments: [Segment], indirect: Bool = false, publish: Bool = true) -> UInt16 {
        let parts = layout(segments)
        let head = nextDescriptor
        if indirect {
            let table = ram.allocate(16 * parts.count)
            for (i, part) in parts.enumerated() {
                let last = i == parts.count - 1
                writeDescriptor(table: table, index: i, address: part.0, length: part.1,
                                flags: part.2 | (last ? 0 : Virtqueue.descriptorNext), next: UInt16(i + 1))
            }
            writeDescriptor(table: descriptors, index: Int(head), address: table, length: UInt32(16 * parts.count),
                            flags: Virtqueue.descriptorIndirect, next: 0)
            nextDescriptor = (nextDescriptor + 1) % size
        } else {
            for (i, part) in parts.enumerated() {
                let index = (head + UInt16(i)) % size
                let last = i == parts.count - 1
                writeDescriptor(table: descriptors, index: Int(index), address: part.0, length: part.1,
                                flags: part.2 | (last ? 0 : Virtqueue.descriptorNext), next: (index + 1) % size)
            }
            nextDescriptor = (nextDescriptor + UInt16(parts.count)) % size
        }
        writableBuffers[head] = parts.filter { $0.2 & Virtqueue.descriptorWrite != 0 }.map { ($0.0, Int($0.1)) }
        if publish { publishHead(head) }
        return head
    }

    /// Puts a head in the next available slot and bumps avail.idx.
    func publishHead(_ head: UInt16) {
        store(head, at: available + 4 + 2 * UInt64(availableIndex % size))
        availableIndex &+= 1
        store(availableIndex, at: available + 2)
    }

    /// Used entries the device returned since the last call.
    func takeUsed() -> [(id: UInt32, length: UInt32)] {
        let index = load16(used + 2)
        var result: [(UInt32, UInt32)] = []
        while lastUsedSeen != index {
            let slot = UInt64(lastUsedSeen % size)
            result.append((load32(used + 4 + 8 * slot), load32(used + 8 + 8 * slot)))
            lastUsedSeen &+= 1
        }
        return result
    }

    /// The bytes the device wrote into a chain's writable buffers.
    func written(head: UInt16, count: Int) -> [UInt8] {
        var out: [UInt8] = []
        for (address, length) in writableBuffers[head] ?? [] where out.count < count {
            out += ram.read(min(length, count - out.count), at: address)
        }
        return out
    }

    /// used_event (in the available ring) and avail_event (in the used ring), for EVENT_IDX.
    func setUsedEvent(_ value: UInt16) { store(value, at: available + 4 + 2 * UInt64(size)) }
    var availEvent: UInt16 { load16(used + 4 + 8 * UInt64(size)) }
    func setAvailableFlags(_ flags: UInt16) { store(flags, at: available) }
}
