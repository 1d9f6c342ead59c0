// DAX-ready image layout. A device mapped with DAX must be a multiple of 2 MiB (the huge-page alignment the
// kernel's fsdax mapping wants). For NVDIMM-backed devices, Kata's image builder puts a 2 MiB prefix before an
// ordinary partitioned disk, and this writes the same layout:
//   0       MBR #1: one Linux (0x83) partition starting at 3 MiB (for host tools reading the whole file)
//   4 KiB   NVDIMM PFN info block (struct nd_pfn_sb, drivers/nvdimm/pfn.h), 4 KiB, little-endian:
//             signature "NVDIMM_PFN_INFO\0" @0, version_minor u16 @54 = 2, dataoff u64 @56 = 2 MiB,
//             mode u32 @72 = 1 (PFN_MODE_RAM), align u32 @84 = 2 MiB, everything else zero,
//             checksum u64 @4088 = nd_fletcher64 of the block with the checksum field zeroed
//   2 MiB   MBR #2: the same partition, now relative to the PFN device's data (start 1 MiB, i.e. 3 MiB in the file)
//   3 MiB   the filesystem (the guest mounts /dev/pmem0p1)
// The kernel sees the PFN block, exposes the namespace from dataoff on as /dev/pmem0, reads MBR #2 there and
// finds the partition at 1 MiB: /dev/pmem0p1.
import Foundation

/// The 2 MiB NVDIMM prefix and DAX size rules.
public enum DaxLayout {
    /// Size granularity of a DAX device (and the PFN block's align).
    public static let alignment: UInt64 = 2 << 20
    /// Where the PFN device's data starts (dataoff).
    public static let dataOffset: UInt64 = 2 << 20
    /// Where the filesystem starts in a file with the prefix.
    public static let filesystemOffset: UInt64 = 3 << 20
    /// Where the PFN info block sits.
    public static let pfnInfoOffset = 4096
    public static let pfnSignature = "NVDIMM_PFN_INFO"

    /// The kernel's nd_fletcher64 (drivers/nvdimm/core.c): over little-endian u32 words, lo += w, hi += lo
    /// (both mod 2^32), result hi << 32 | lo.
    public static func fletcher64<Bytes: Collection>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
        var lo: UInt32 = 0
        var hi: UInt32 = 0
        var word: UInt32 = 0
        var shift: UInt32 = 0
        for byte in bytes {
            word |= UInt32(byte) << shift
            shift += 8
            if shift == 32 {
                lo = lo &+ word
                hi = hi &+ lo
                word = 0
                shift = 0
            }
        }
        return UInt64(hi) << 32 | UInt64(lo)
    }

    /// The 4 KiB PFN info block.
    public static func pfnInfoBlock() -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 4096)
        func put(_ value: UInt64, at offset: Int, width: Int) {
            for index in 0..<width { block[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
        }
        for (index, byte) in pfnSignature.utf8.enumerated() { block[index] = byte }
        put(2, at: 54, width: 2)                 // version_minor
        put(dataOffset, at: 56, width: 8)        // dataoff
        put(1, at: 72, width: 4)                 // mode = PFN_MODE_RAM
        put(alignment, at: 84, width: 4)         // align
        put(fletcher64(block), at: 4088, width: 8)
        return block
    }

    /// A master boot record with one Linux partition (type 0x83) and the 0x55AA signature.
    public static func masterBootRecord(startSector: UInt32, sectorCount: UInt32, diskSignature: UInt32) -> [UInt8] {
        var mbr = [UInt8](repeating: 0, count: 512)
        func put32(_ value: UInt32, at offset: Int) {
            for index in 0..<4 { mbr[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(index))) }
        }
        put32(diskSignature, at: 440)
        let entry = 446
        mbr[entry] = 0x00                                      // not bootable
        mbr[entry + 1] = 0xfe; mbr[entry + 2] = 0xff; mbr[entry + 3] = 0xff  // CHS start: "use LBA"
        mbr[entry + 4] = 0x83                                  // Linux
        mbr[entry + 5] = 0xfe; mbr[entry + 6] = 0xff; mbr[entry + 7] = 0xff  // CHS end: "use LBA"
        put32(startSector, at: entry + 8)
        put32(sectorCount, at: entry + 12)
        mbr[510] = 0x55
        mbr[511] = 0xaa
        return mbr
    }

    /// The 3 MiB that precede a filesystem of `filesystemSize` bytes (a multiple of 512).
    public static func prefix(filesystemSize: UInt64, diskSignature: UInt32) -> Data {
        var data = Data(count: Int(filesystemOffset))
        let sectors = UInt32(clamping: filesystemSize / 512)
        let outer = masterBootRecord(startSector: UInt32(filesystemOffset / 512), sectorCount: sectors, diskSignature: diskSignature)
        let inner = masterBootRecord(startSector: UInt32((filesystemOffset - dataOffset) / 512), sectorCount: sectors,
                                     diskSignature: diskSignature)
        data.replaceSubrange(0..<512, with: outer)
        data.replaceSubrange(pfnInfoOffset..<(pfnInfoOffset + 4096), with: pfnInfoBlock())
        data.replaceSubrange(Int(dataOffset)..<Int(dataOffset) + 512, with: inner)
        return data
    }
}
