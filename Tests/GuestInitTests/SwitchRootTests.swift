import Foundation
@testable import GuestInit
import GuestSys
import GuestTestSupport
import Testing

@Suite struct SwitchRootTests {
    @Test func freesOnlyItsOwnFilesystemAndNeverFollowsLinks() throws {
        let scratch = try ScratchDirectory("switchroot")
        let tree = scratch.file("initramfs")
        let outside = scratch.file("outside")
        let fm = FileManager.default
        try fm.createDirectory(atPath: tree + "/lib/modules/x", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "keep".write(toFile: outside + "/precious", atomically: true, encoding: .utf8)
        try "x".write(toFile: tree + "/init", atomically: true, encoding: .utf8)
        try "x".write(toFile: tree + "/lib/modules/x/a.ko", atomically: true, encoding: .utf8)
        try fm.createSymbolicLink(atPath: tree + "/link-to-outside", withDestinationPath: outside)

        // Another device number stands for "a different filesystem": nothing may go.
        let device = try FileSystem.status(tree).device
        #expect(SwitchRoot.removeContents(of: tree, device: device &+ 1) == 0)
        #expect(fm.fileExists(atPath: tree + "/init"))

        // Its own filesystem: files, directories and the link go; the link's target stays.
        #expect(SwitchRoot.removeContents(of: tree, device: device) == 6)
        #expect(try fm.contentsOfDirectory(atPath: tree).isEmpty)
        #expect(fm.fileExists(atPath: outside + "/precious"))
    }

    @Test func refusesWhenRootIsNotAnInitramfs() throws {
        // The test machine's / is a disk filesystem: perform() must stop before touching anything.
        let magic = try FileSystem.filesystemType("/")
        try #require(!RootPlan.initramfsMagics.contains(magic), "this machine runs from a RAM root")
        let error = #expect(throws: SwitchRoot.Failure.self) {
            try SwitchRoot.perform(newRoot: "/nonexistent", console: Console(level: .error))
        }
        #expect(error?.description.contains("not an initramfs") == true)
    }
}

@Suite struct ConsoleTests {
    @Test(arguments: [(UInt64(0), "    0.000000"), (1_234_567_890, "    1.234567"), (123_456_000_000_000, "123456.000000")])
    func timestampsLikePrintk(nanoseconds: UInt64, text: String) {
        #expect(Console.timestamp(nanoseconds) == text)
    }

    @Test func levelsFilter() throws {
        let pipe = try GuestSys.Pipe()
        let console = Console(level: .warning, fd: pipe.writeEnd)
        console.debug("hidden")
        console.info("hidden too")
        console.warning("shown")
        console.error("also shown")
        try pipe.writeEnd.close()
        let text = String(decoding: try pipe.readEnd.readToEnd(), as: UTF8.self)
        #expect(!text.contains("hidden"))
        #expect(text.contains("guest-init: warning: shown\n"))
        #expect(text.contains("guest-init: error: also shown\n"))
    }
}
