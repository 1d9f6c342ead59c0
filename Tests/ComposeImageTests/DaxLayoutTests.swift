// The DAX layout read back by the test's own parsing of the bytes (not DaxLayout's), plus row tables for
// fletcher64 and the 2 MiB rounding.
import ComposeImage
import Foundation
import GuestTestSupport
import Testing

struct DaxLayoutTests {
    /// The kernel's nd_fletcher64, written out again here from its definition (drivers/nvdimm/core.c).
    static func referenceFletcher64(_ bytes: [UInt8]) -> UInt64 {
        var lo: UInt64 = 0, hi: UInt64 = 0
        for index in stride(from: 0, to: bytes.count, by: 4) {
            let word = UInt64(bytes[index]) | UInt64(bytes[index + 1]) << 8 | UInt64(bytes[index + 2]) << 16 | UInt64(bytes[index + 3]) << 24
            lo = (lo + word) & 0xffff_ffff
            hi = (hi + lo) & 0xffff_ffff
        }
        return hi << 32 | lo
    }

    static func le(_ bytes: [UInt8], _ offset: Int, _ width: Int) -> UInt64 {
        (0..<width).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
    }

    @Test(arguments: [
        ([UInt8](), UInt64(0)),
        ([1, 0, 0, 0], UInt64(1) << 32 | 1),
        ([1, 0, 0, 0, 2, 0, 0, 0], UInt64(4) << 32 | 3),
        ([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], UInt64(0xffff_fffd) << 32 | 0xffff_fffe),
    ])
    func fletcher64MatchesTheKernelDefinition(bytes: [UInt8], expected: UInt64) {
        #expect(DaxLayout.fletcher64(bytes) == expected)
        #expect(Self.referenceFletcher64(bytes) == expected)
    }

    @Test
    func daxImageIsAMultipleOf2MiB() throws {
        try #require(ImageTest.productsBuilt, "build guest-init, guest-agent and compose-guest first (swift build)")
        let image = try ImageTest.sharedImage("ext4", ["--dax"])
        let size = try #require(try FileManager.default.attributesOfItem(atPath: image)[.size] as? Int)
        #expect(size % (2 << 20) == 0)
        #expect(try Command.run(["e2fsck", "-fn", image]).succeeded)
        let info = try #require(try ImageTest.manifest(image)["image"] as? [String: Any])
        #expect(info["dax"] as? Bool == true)
        #expect(info["filesystemOffset"] as? Int == 0)
        #expect(info["rootDevicePmem"] as? String == "/dev/pmem0")
    }

    @Test(arguments: ["ext4", "erofs"])
    func daxHeaderHasKatasNVDIMMPrefix(format: String) throws {
        try #require(ImageTest.productsBuilt, "build guest-init, guest-agent and compose-guest first (swift build)")
        let scratch = try ScratchDirectory("gk-daxheader")
        let image = scratch.file("guest.img")
        try ImageTest.composeDefault(["--format", format, "--dax", "--dax-header", "-o", image])
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: image)))
        #expect(bytes.count % (2 << 20) == 0)

        // PFN info block at 4 KiB.
        let block = Array(bytes[4096..<8192])
        #expect(String(decoding: block[0..<15], as: UTF8.self) == "NVDIMM_PFN_INFO")
        #expect(block[15] == 0)
        #expect(Self.le(block, 54, 2) == 2, "version_minor")
        #expect(Self.le(block, 56, 8) == 2 << 20, "dataoff")
        #expect(Self.le(block, 72, 4) == 1, "mode = PFN_MODE_RAM")
        #expect(Self.le(block, 84, 4) == 2 << 20, "align")
        var zeroed = block
        for index in 4088..<4096 { zeroed[index] = 0 }
        #expect(Self.le(block, 4088, 8) == Self.referenceFletcher64(zeroed), "checksum")

        // MBR #1 at 0 points at 3 MiB, MBR #2 at 2 MiB points 1 MiB into the PFN data: the same place.
        for (base, startSector) in [(0, 6144), (2 << 20, 2048)] {
            #expect(bytes[base + 510] == 0x55 && bytes[base + 511] == 0xaa, "MBR signature at \(base)")
            #expect(bytes[base + 446 + 4] == 0x83, "Linux partition type at \(base)")
            #expect(Self.le(bytes, base + 446 + 8, 4) == UInt64(startSector), "partition start at \(base)")
            let sectors = Self.le(bytes, base + 446 + 12, 4)
            #expect(sectors > 0 && (3 << 20) + sectors * 512 <= UInt64(bytes.count))
        }

        // The filesystem starts at 3 MiB: its magic is there and its own checker accepts it cut out.
        let fs = scratch.file("fs.img")
        try Data(bytes[(3 << 20)...]).write(to: URL(fileURLWithPath: fs))
        if format == "ext4" {
            #expect(Self.le(bytes, (3 << 20) + 1024 + 56, 2) == 0xef53, "ext4 magic")
            #expect(try Command.run(["e2fsck", "-fn", fs]).succeeded)
        } else {
            #expect(Self.le(bytes, (3 << 20) + 1024, 4) == 0xe0f5_e1e2, "erofs magic")
            #expect(try Command.run(["fsck.erofs", fs]).succeeded)
        }
        let info = try #require(try ImageTest.manifest(image)["image"] as? [String: Any])
        #expect(info["filesystemOffset"] as? Int == 3 << 20)
        #expect(info["pfnDataOffset"] as? Int == 2 << 20)
        #expect(info["rootDevicePmem"] as? String == "/dev/pmem0p1")
        #expect(info["daxHeader"] as? Bool == true)
    }
}
