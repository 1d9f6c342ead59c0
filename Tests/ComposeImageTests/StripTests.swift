import Foundation
import GuestTestSupport
import Testing

/// `--strip`: the installed init and agent lose their symbol tables and debug sections, the host's
/// files stay as they were, and the result still runs (readelf reads it as an executable).
@Suite
struct StripTests {
    init() throws {
        try #require(ImageTest.productsBuilt, "build guest-init, guest-agent and compose-guest first (swift build)")
    }

    @Test func stripsTheInstalledInitAndAgentOnly() throws {
        let scratch = try ScratchDirectory("gk-strip")
        let hostBefore = try ImageTest.sha256(ImageTest.guestInit)
        try ImageTest.composeDefault(["--strip", "--format", "initramfs", "--compression", "none", "-o", scratch.file("g.cpio")])
        #expect(try ImageTest.sha256(ImageTest.guestInit) == hostBefore, "the host's guest-init changed")
        let tree = scratch.file("tree")
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        let unpack = try Command.run(["sh", "-c", "cpio -idm --quiet --no-absolute-filenames < '\(scratch.file("g.cpio"))'"],
                                     currentDirectory: tree)
        #expect(unpack.succeeded, "\(unpack)")
        for (guest, host) in [("sbin/init", ImageTest.guestInit), ("sbin/guest-agent", ImageTest.guestAgent)] {
            let installed = tree + "/" + guest
            let size = try #require(FileManager.default.attributesOfItem(atPath: installed)[.size] as? Int)
            let hostSize = try #require(FileManager.default.attributesOfItem(atPath: host)[.size] as? Int)
            #expect(size < hostSize, "\(guest): \(size) bytes, host \(hostSize)")
            let sections = try Command.run(["readelf", "-S", "-h", installed])
            #expect(sections.succeeded && (sections.stdout.contains("EXEC") || sections.stdout.contains("DYN")), "\(sections)")
            #expect(!sections.stdout.contains(".symtab") && !sections.stdout.contains(".debug_info"), "\(guest) still has symbols")
        }
    }
}
