// Split virtqueues, device side (virtio spec 1.2, 2.7 "Split Virtqueues").
//
// The driver (the guest) owns three areas in its RAM:
//   descriptor table  16 bytes each: addr u64, len u32, flags u16 (NEXT 1, WRITE 2, INDIRECT 4), next u16
//   available ring    flags u16, idx u16, ring[size] u16, used_event u16 (with VIRTIO_RING_F_EVENT_IDX)
//   used ring         flags u16, idx u16, ring[size] {id u32, len u32}, avail_event u16 (with EVENT_IDX)
// all little-endian. `idx` fields run freely modulo 2^16; a slot is idx % size. The driver publishes
// chains by writing ring entries, then (after a write barrier) avail.idx; the device consumes them in
// order and returns each head in the used ring, then (after a barrier) bumps used.idx.
//
// Notifications: the driver kicks the device through the kick eventfd, the device interrupts the driver
// through the call eventfd. Without EVENT_IDX, avail.flags bit 0 (VRING_AVAIL_F_NO_INTERRUPT) asks the
// device not to interrupt. With EVENT_IDX, used_event/avail_event say at which index the other side wants
// to hear again, compared with vring_need_event() (Linux include/uapi/linux/virtio_ring.h).
//
// Guest memory is shared with a running vCPU, so reads of indices are followed by an acquire fence and
// writes of indices preceded by a release fence; the "publish then check the other side's event index"
// steps need a full fence (store-load order), as in Linux's virtio_mb().
import Synchronization

/// Feature bits that change a split ring's layout or rules.
public struct VirtqueueFeatures: Sendable, Equatable {
    /// VIRTIO_RING_F_EVENT_IDX (bit 29).
    public var eventIndex: Bool
    /// VIRTIO_RING_F_INDIRECT_DESC (bit 28).
    public var indirectDescriptors: Bool

    public init(eventIndex: Bool = false, indirectDescriptors: Bool = false) {
        self.eventIndex = eventIndex
        self.indirectDescriptors = indirectDescriptors
    }
}

/// What `Virtqueue.pop` found.
public enum AvailableBuffer {
    case chain(DescriptorChain)
    /// A chain the driver got wrong. Its head must still be returned (with length 0) so the ring moves on.
    case malformed(head: UInt16, reason: String)
}

/// A ring whose indices make no sense: the device must stop using it until it is set up again.
public struct VirtqueueError: Error, CustomStringConvertible {
    public let description: String
}

/// The device side of one split virtqueue over guest memory.
public final class Virtqueue {
    static let descriptorNext: UInt16 = 1
    static let descriptorWrite: UInt16 = 2
    static let descriptorIndirect: UInt16 = 4
    static let availNoInterrupt: UInt16 = 1

    public let size: UInt16
    public let features: VirtqueueFeatures
    private let memory: GuestMemory
    private let descriptors: UnsafeMutableRawPointer
    private let available: UnsafeMutableRawPointer
    private let used: UnsafeMutableRawPointer

    /// The next available-ring index to consume (what GET_VRING_BASE reports).
    public private(set) var nextAvailable: UInt16
    /// The next used-ring index to fill.
    public private(set) var nextUsed: UInt16
    /// used.idx at the last interrupt, for vring_need_event; nil before the first one.
    private var signalledUsed: UInt16?

    /// Byte sizes of the three areas for a ring of `size` entries.
    public static func descriptorTableBytes(_ size: UInt16) -> Int { 16 * Int(size) }
    public static func availableRingBytes(_ size: UInt16) -> Int { 6 + 2 * Int(size) }
    public static func usedRingBytes(_ size: UInt16) -> Int { 6 + 8 * Int(size) }

    /// A ring over already-translated host pointers. `nextAvailable` comes from SET_VRING_BASE; the
    /// used index is read back from the ring, so a ring stopped and restarted carries on where it was.
    public init(memory: GuestMemory, size: UInt16, descriptors: UnsafeMutableRawPointer,
                available: UnsafeMutableRawPointer, used: UnsafeMutableRawPointer,
                features: VirtqueueFeatures, nextAvailable: UInt16) throws(VirtqueueError) {
        guard size > 0, size & (size - 1) == 0 else {
            throw VirtqueueError(description: "queue size \(size) is not a power of two")
        }
        self.memory = memory
        self.size = size
        self.descriptors = descriptors
        self.available = available
        self.used = used
        self.features = features
        self.nextAvailable = nextAvailable
        atomicMemoryFence(ordering: .acquiring)
        self.nextUsed = UInt16(littleEndian: used.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
    }

    /// A ring from the QEMU virtual addresses of SET_VRING_ADDR.
    public convenience init(memory: GuestMemory, size: UInt16, descriptorsAt: UInt64, availableAt: UInt64,
                            usedAt: UInt64, features: VirtqueueFeatures, nextAvailable: UInt16) throws(VirtqueueError) {
        guard let d = memory.pointer(userAddress: descriptorsAt, length: Self.descriptorTableBytes(size)),
              let a = memory.pointer(userAddress: availableAt, length: Self.availableRingBytes(size)),
              let u = memory.pointer(userAddress: usedAt, length: Self.usedRingBytes(size))
        else {
            throw VirtqueueError(description: "ring addresses desc 0x\(String(descriptorsAt, radix: 16)) avail 0x\(String(availableAt, radix: 16)) used 0x\(String(usedAt, radix: 16)) (size \(size)) are outside the memory table")
        }
        try self.init(memory: memory, size: size, descriptors: d, available: a, used: u, features: features,
                      nextAvailable: nextAvailable)
    }

    private var availableIndex: UInt16 {
        let value = UInt16(littleEndian: available.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        atomicMemoryFence(ordering: .acquiring)
        return value
    }

    /// Whether the driver has published chains not consumed yet.
    public var hasAvailable: Bool { availableIndex != nextAvailable }

    /// Takes the next available chain; nil when the ring is empty.
    public func pop() throws(VirtqueueError) -> AvailableBuffer? {
        let published = availableIndex
        if published == nextAvailable { return nil }
        if published &- nextAvailable > size {
            throw VirtqueueError(description: "available index \(published) is more than \(size) ahead of \(nextAvailable)")
        }
        let slot = Int(nextAvailable % size)
        let head = UInt16(littleEndian: available.loadUnaligned(fromByteOffset: 4 + 2 * slot, as: UInt16.self))
        nextAvailable &+= 1
        guard head < size else {
            throw VirtqueueError(description: "available ring slot \(slot) names descriptor \(head) of \(size)")
        }
        return walk(head: head)
    }

    /// Resolves a chain, following NEXT links and at most one indirect table.
    private func walk(head: UInt16) -> AvailableBuffer {
        var readable: [UnsafeMutableRawBufferPointer] = []
        var writable: [UnsafeMutableRawBufferPointer] = []
        var table = descriptors
        var tableSize = Int(size)
        var index = Int(head)
        var inIndirect = false
        var steps = 0
        while true {
            steps += 1
            if steps > tableSize { return .malformed(head: head, reason: "chain longer than its table (a loop?)") }
            let entry = table + 16 * index
            let address = UInt64(littleEndian: entry.loadUnaligned(as: UInt64.self))
            let length = UInt32(littleEndian: entry.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
            let flags = UInt16(littleEndian: entry.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
            let next = UInt16(littleEndian: entry.loadUnaligned(fromByteOffset: 14, as: UInt16.self))

            if flags & Self.descriptorIndirect != 0 {
                guard features.indirectDescriptors else {
                    return .malformed(head: head, reason: "indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC")
                }
                guard !inIndirect else { return .malformed(head: head, reason: "nested indirect table") }
                guard flags & Self.descriptorNext == 0 else {
                    return .malformed(head: head, reason: "descriptor has both INDIRECT and NEXT")
                }
                guard length > 0, length % 16 == 0,
                      let indirect = memory.pointer(guestAddress: address, length: Int(length)) else {
                    return .malformed(head: head, reason: "indirect table at 0x\(String(address, radix: 16)) length \(length) is invalid")
                }
                table = indirect
                tableSize = Int(length / 16)
                index = 0
                inIndirect = true
                steps = 0
                continue
            }
            guard let buffers = memory.buffers(guestAddress: address, length: length) else {
                return .malformed(head: head, reason: "buffer 0x\(String(address, radix: 16)) length \(length) is outside guest memory")
            }
            if flags & Self.descriptorWrite != 0 {
                writable += buffers
            } else {
                guard writable.isEmpty else {
                    return .malformed(head: head, reason: "device-readable descriptor after a writable one")
                }
                readable += buffers
            }
            if flags & Self.descriptorNext == 0 { break }
            index = Int(next)
            guard index < tableSize else {
                return .malformed(head: head, reason: "next index \(next) outside a table of \(tableSize)")
            }
        }
        return .chain(DescriptorChain(head: head, readable: readable, writable: writable))
    }

    /// Returns a chain to the driver with the number of bytes written into it.
    public func push(head: UInt16, length: UInt32) {
        let slot = Int(nextUsed % size)
        used.storeBytes(of: UInt32(head).littleEndian, toByteOffset: 4 + 8 * slot, as: UInt32.self)
        used.storeBytes(of: length.littleEndian, toByteOffset: 8 + 8 * slot, as: UInt32.self)
        nextUsed &+= 1
        atomicMemoryFence(ordering: .releasing)
        used.storeBytes(of: nextUsed.littleEndian, toByteOffset: 2, as: UInt16.self)
    }

    /// After pushing: whether the driver wants an interrupt now. Call once per batch.
    public func needsInterrupt() -> Bool {
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if features.eventIndex {
            let usedEvent = UInt16(littleEndian: available.loadUnaligned(fromByteOffset: 4 + 2 * Int(size), as: UInt16.self))
            let new = nextUsed
            defer { signalledUsed = new }
            guard let old = signalledUsed else { return true }
            return Self.needEvent(usedEvent, new: new, old: old)
        }
        let flags = UInt16(littleEndian: available.loadUnaligned(as: UInt16.self))
        return flags & Self.availNoInterrupt == 0
    }

    /// Before waiting for a kick: asks the driver to kick on the next chain it publishes, then returns
    /// whether chains arrived meanwhile (the caller must then keep consuming instead of waiting).
    public func armKick() -> Bool {
        if features.eventIndex {
            used.storeBytes(of: nextAvailable.littleEndian, toByteOffset: 4 + 8 * Int(size), as: UInt16.self)
        }
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        return hasAvailable
    }

    /// vring_need_event: whether `event` lies in (old, new], modulo 2^16.
    public static func needEvent(_ event: UInt16, new: UInt16, old: UInt16) -> Bool {
        (new &- event &- 1) < (new &- old)
    }
}
