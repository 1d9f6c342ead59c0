// Bad input through the real CLI: a clear message, a non-zero exit, and nothing at -o. Also: it works
// without root (run as nobody when the tests run as root).
import ComposeImage
import Foundation
import GuestTestSupport
import HostProcess
import Testing

@Suite
struct BadInputTests {
    init() throws {
        try #require(ImageTest.productsBuilt, "build guest-init, guest-agent and compose-guest first (swift build)")
    }

    /// Asserts a failed run that names `fragment`, leaving nothing (not even a partial file) in `directory`.
    static func expectFailure(_ result: CommandResult, mentioning fragment: String, cleanDirectory directory: String,
                              except kept: Set<String> = []) throws {
        #expect(!result.succeeded)
        #expect(result.status != 0)
        #expect(result.stderr.contains(fragment), "stderr: \(result.stderr)")
        let left = try FileManager.default.contentsOfDirectory(atPath: directory).filter { !kept.contains($0) && $0.contains("img") }
        #expect(left.isEmpty, "left behind: \(left)")
    }

    @Test func missingInit() throws {
        let scratch = try ScratchDirectory("gk-bad")
        let result = try ImageTest.compose(["image", "--init", scratch.file("nope"), "-o", scratch.file("g.img")])
        try Self.expectFailure(result, mentioning: "--init \(scratch.file("nope")): no such file", cleanDirectory: scratch.path)
    }

    @Test func nonELFInit() throws {
        let scratch = try ScratchDirectory("gk-bad")
        try "#!/bin/sh\nexec /bin/sh\n".write(toFile: scratch.file("init.sh"), atomically: true, encoding: .utf8)
        let result = try ImageTest.compose(["image", "--init", scratch.file("init.sh"), "-o", scratch.file("g.img")])
        try Self.expectFailure(result, mentioning: "is not an ELF executable (no ELF magic)", cleanDirectory: scratch.path)
    }

    @Test func missingAddSource() throws {
        let scratch = try ScratchDirectory("gk-bad")
        let result = try ImageTest.compose(["image", "--init", ImageTest.guestInit, "--add", scratch.file("absent") + ":/x",
                                            "-o", scratch.file("g.img")])
        try Self.expectFailure(result, mentioning: "--add \(scratch.file("absent")): no such file", cleanDirectory: scratch.path)
    }

    @Test func imageTooSmallLeavesNothingAndKeepsAnOldImage() throws {
        let scratch = try ScratchDirectory("gk-small")
        let output = scratch.file("g.img")
        try Data("previous image".utf8).write(to: URL(fileURLWithPath: output))
        let result = try ImageTest.compose(["image", "--init", ImageTest.guestInit, "--agent", ImageTest.guestAgent,
                                            "--size", "1M", "-o", output])
        try Self.expectFailure(result, mentioning: "is too small for the content", cleanDirectory: scratch.path, except: ["g.img"])
        #expect(try String(contentsOfFile: output, encoding: .utf8) == "previous image")
        #expect(!FileManager.default.fileExists(atPath: output + ".manifest.json"))
    }

    @Test func failureAfterTheFilesystemIsWrittenLeavesNoPartialImage() throws {
        // mke2fs succeeds, then the debugfs pass refuses a name it cannot quote: the half-made image must go.
        let scratch = try ScratchDirectory("gk-late")
        try "x\n".write(toFile: scratch.file("file"), atomically: true, encoding: .utf8)
        let output = scratch.file("g.img")
        let result = try ImageTest.compose(["image", "--init", ImageTest.guestInit, "--add", scratch.file("file") + ":/etc/bad\"name",
                                            "-o", output])
        try Self.expectFailure(result, mentioning: "cannot name /etc/bad\"name in debugfs", cleanDirectory: scratch.path)
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    /// Found by fuzzing the cpio writer: the initramfs's /init hard link silently replaced a /init of the tree.
    @Test func anInitramfsWhoseContentHasItsOwnInitIsRefused() throws {
        let scratch = try ScratchDirectory("gk-owninit")
        try "#!/bin/sh\n".write(toFile: scratch.file("init"), atomically: true, encoding: .utf8)
        let output = scratch.file("g.cpio.gz")
        let result = try ImageTest.compose(["image", "--init", ImageTest.guestInit, "--format", "initramfs",
                                            "--add", scratch.file("init") + ":/init", "-o", output])
        try Self.expectFailure(result, mentioning: "/init is in the image and would also be a hard link to /sbin/init",
                               cleanDirectory: scratch.path, except: ["init"])
    }

    @Test func malformedSpecViaCLI() throws {
        let scratch = try ScratchDirectory("gk-badspec")
        try "init: \(ImageTest.guestInit)\nformat: ext4\ndax: perhaps\n".write(toFile: scratch.file("g.yaml"), atomically: true, encoding: .utf8)
        let result = try ImageTest.compose(["image", "--spec", scratch.file("g.yaml"), "-o", scratch.file("g.img")])
        try Self.expectFailure(result, mentioning: "g.yaml:3: key 'dax': expected true or false, got 'perhaps'", cleanDirectory: scratch.path)
    }

    @Test(arguments: [["--format", "initramfs", "--dax"], ["--dax-header"], ["--format", "ext5"], ["--compression", "lz4"]])
    func contradictoryOptions(extra: [String]) throws {
        let scratch = try ScratchDirectory("gk-badopt")
        let result = try ImageTest.compose(["image", "--init", ImageTest.guestInit, "-o", scratch.file("g.img")] + extra)
        #expect(!result.succeeded)
        #expect(result.stderr.hasPrefix("compose-guest image: "), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
    }

    static var canDropToNobody: Bool { geteuid() == 0 && Command.exists("setpriv") }

    /// Runs compose-guest as nobody. The tools it drives are copied into a directory nobody may search, first
    /// on its PATH: the same programs, whatever the mode of the system's bin directories (a machine image
    /// was seen with /usr/bin 0700, where nobody can run nothing from it).
    static func asNobody(_ arguments: [String]) throws -> CommandResult {
        let tools = try ScratchDirectory("gk-nobody-tools")
        chmod(tools.path, 0o755)
        for tool in ["mke2fs", "debugfs", "mkfs.erofs", "depmod", "gzip", "zstd", "strip", "env"] {
            let found = try #require(ChildCommand(tool).executablePath(), "\(tool) is not installed (make deps)")
            let copy = tools.file(tool)
            try FileManager.default.copyItem(atPath: URL(fileURLWithPath: found).resolvingSymlinksInPath().path, toPath: copy)
            chmod(copy, 0o755)
        }
        let path = tools.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        return try Command.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", tools.file("env"), "PATH=\(path)",
                                "SOURCE_DATE_EPOCH=\(ImageTest.epoch)", "TMPDIR=/tmp", ImageTest.composeGuest] + arguments)
    }

    @Test
    func unreadableInputAsNonRoot() throws {
        try #require(Self.canDropToNobody, "needs root to become nobody")
        let scratch = try ScratchDirectory("gk-unreadable")
        chmod(scratch.path, 0o777)
        let secret = scratch.file("init")
        try FileManager.default.copyItem(atPath: ImageTest.guestInit, toPath: secret)
        chmod(secret, 0o000)
        let result = try Self.asNobody(["image", "--init", secret, "-o", scratch.file("g.img")])
        try Self.expectFailure(result, mentioning: "--init \(secret): permission denied", cleanDirectory: scratch.path)
    }

    @Test(arguments: ["ext4", "erofs", "initramfs"])
    func composesWithoutRootAndStillOwnsFilesByRoot(format: String) throws {
        try #require(Self.canDropToNobody, "needs root to become nobody")
        let scratch = try ScratchDirectory("gk-noroot")
        chmod(scratch.path, 0o777)
        let image = scratch.file("g.\(format)")
        let result = try Self.asNobody(["image", "--init", ImageTest.guestInit, "--agent", ImageTest.guestAgent, "--format", format,
                                        "-o", image])
        #expect(result.succeeded, "\(result)")
        var info = stat()
        #expect(stat(image, &info) == 0 && info.st_uid == 65534, "written by nobody")
        switch format {
        case "ext4":
            #expect(try Command.run(["e2fsck", "-fn", image]).succeeded)
            let initStat = try #require(try ImageTest.ext4Stat(image, "/sbin/init"))
            #expect(initStat.uid == 0 && initStat.gid == 0 && initStat.mode == "0755")
            #expect(try ImageTest.ext4Stat(image, "/dev/console")?.type == "character")
            // Same bytes as a root build: who runs the composer does not leak into the image.
            let rootBuilt = try ImageTest.sharedImage("ext4")
            #expect(try ImageTest.sha256(image) == (try ImageTest.sha256(rootBuilt)))
        case "erofs":
            #expect(try Command.run(["fsck.erofs", image]).succeeded)
            #expect(try Command.run(["dump.erofs", "--path=/sbin/init", image]).stdout.contains("Uid: 0   Gid: 0  Access: 0755"))
            #expect(result.stderr.contains("device node"), "the missing nodes are reported: \(result.stderr)")
        default:
            let listing = try Command.run(["sh", "-c", "gzip -dc '\(image)' | cpio -tv --quiet"]).stdout
            #expect(listing.contains("crw-------   1 root     root"), "device node with root owner without root")
            #expect(!listing.contains("nobody"))
        }
    }
}
