// Guest RAM as the bridge sees it. QEMU hands the regions over in VHOST_USER_SET_MEM_TABLE, each a
// file descriptor (a memfd when the machine has `memory-backend-memfd,share=on`) the bridge maps.
// Two address spaces meet here: descriptors carry guest-physical addresses, while vring addresses
// (SET_VRING_ADDR) are QEMU's own virtual addresses ("user addresses"); each region gives both.
import GuestSys

/// One region of guest RAM mapped into this process.
public struct GuestMemoryRegion: Sendable {
    public let guestAddress: UInt64
    public let size: UInt64
    /// Where QEMU has the region in its own address space.
    public let userAddress: UInt64
    /// Where this process has it.
    // The pointer is only dereferenced on the bridge's single thread; `GuestMemory` keeps it mapped.
    nonisolated(unsafe) public let host: UnsafeMutableRawPointer

    public init(guestAddress: UInt64, size: UInt64, userAddress: UInt64, host: UnsafeMutableRawPointer) {
        self.guestAddress = guestAddress
        self.size = size
        self.userAddress = userAddress
        self.host = host
    }
}

/// The guest's memory map: translates guest-physical and QEMU-virtual addresses to host pointers,
/// checking every range against the regions so a bad address from the guest is an error, not a fault.
public final class GuestMemory {
    public let regions: [GuestMemoryRegion]
    /// Whatever keeps the regions mapped (MemoryMapping objects, or a test's buffer).
    private let owners: [AnyObject]

    public init(regions: [GuestMemoryRegion], owners: [AnyObject] = []) {
        self.regions = regions
        self.owners = owners
    }

    /// Maps the regions of a SET_MEM_TABLE message: one fd per region, mapped from offset 0 so that
    /// `mmap_offset` lands inside the mapping (QEMU may hand out the same memfd several times). The
    /// table comes from the front-end, so each region is checked first: no sum overflows, and the fd
    /// really holds `mmap_offset + size` bytes (mapping past its end would fault on first touch).
    public static func map(_ table: [VhostUserMemoryRegion], fds: [FileDescriptor]) throws(VhostUserError) -> GuestMemory {
        var regions: [GuestMemoryRegion] = []
        var owners: [AnyObject] = []
        for (number, (region, fd)) in zip(table, fds).enumerated() {
            let end = try checkedEnd(of: region, number: number)
            let size: Int64
            do throws(SysError) { size = try fd.status().size } catch {
                throw VhostUserError("memory region \(number): \(error)")
            }
            guard size >= 0, UInt64(size) >= end else {
                throw VhostUserError("memory region \(number) needs \(end) bytes of its file (mmap_offset \(region.mmapOffset) + "
                    + "size \(region.size)), which holds \(size)")
            }
            let mapping: MemoryMapping
            do throws(SysError) { mapping = try MemoryMapping(fd: fd, size: Int(end)) } catch {
                throw VhostUserError("mapping guest memory region \(number): \(error) (is the machine's memory backend share=on?)")
            }
            owners.append(mapping)
            regions.append(GuestMemoryRegion(
                guestAddress: region.guestAddress, size: region.size, userAddress: region.userAddress,
                host: mapping.base + Int(region.mmapOffset)))
        }
        return GuestMemory(regions: regions, owners: owners)
    }

    /// `mmap_offset + size` of a region whose ranges all fit in 64 bits (and the mapping in an Int).
    static func checkedEnd(of region: VhostUserMemoryRegion, number: Int) throws(VhostUserError) -> UInt64 {
        guard region.size > 0 else { throw VhostUserError("memory region \(number) has size 0") }
        let (end, endOverflow) = region.mmapOffset.addingReportingOverflow(region.size)
        let (_, guestOverflow) = region.guestAddress.addingReportingOverflow(region.size)
        let (_, userOverflow) = region.userAddress.addingReportingOverflow(region.size)
        guard !endOverflow, !guestOverflow, !userOverflow, end <= UInt64(Int.max) else {
            throw VhostUserError("memory region \(number) (guest 0x\(String(region.guestAddress, radix: 16)), user "
                + "0x\(String(region.userAddress, radix: 16)), offset 0x\(String(region.mmapOffset, radix: 16)), size "
                + "0x\(String(region.size, radix: 16))) runs past the end of the address space")
        }
        return end
    }

    /// The host pointer for `length` bytes at a guest-physical address, when one region holds them all.
    public func pointer(guestAddress: UInt64, length: Int) -> UnsafeMutableRawPointer? {
        for region in regions where guestAddress >= region.guestAddress {
            let offset = guestAddress - region.guestAddress
            if offset < region.size && UInt64(length) <= region.size - offset {
                return region.host + Int(offset)
            }
        }
        return nil
    }

    /// The host pointer for `length` bytes at one of QEMU's virtual addresses (vring addresses).
    public func pointer(userAddress: UInt64, length: Int) -> UnsafeMutableRawPointer? {
        for region in regions where userAddress >= region.userAddress {
            let offset = userAddress - region.userAddress
            if offset < region.size && UInt64(length) <= region.size - offset {
                return region.host + Int(offset)
            }
        }
        return nil
    }

    /// The host buffers covering a guest-physical range, split where it crosses regions; nil when any
    /// byte of it is outside guest RAM.
    public func buffers(guestAddress: UInt64, length: UInt32) -> [UnsafeMutableRawBufferPointer]? {
        var result: [UnsafeMutableRawBufferPointer] = []
        var address = guestAddress
        var remaining = UInt64(length)
        while remaining > 0 {
            guard let region = regions.first(where: { address >= $0.guestAddress && address - $0.guestAddress < $0.size })
            else { return nil }
            let offset = address - region.guestAddress
            let take = min(remaining, region.size - offset)
            result.append(UnsafeMutableRawBufferPointer(start: region.host + Int(offset), count: Int(take)))
            address += take
            remaining -= take
        }
        return result
    }
}
