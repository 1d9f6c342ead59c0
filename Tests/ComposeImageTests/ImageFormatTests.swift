// Each format built from the project's real guest-init and guest-agent through the real compose-guest, then
// read back with the real tools (e2fsck/debugfs/dumpe2fs, fsck.erofs/dump.erofs, cpio).
import Foundation
import GuestTestSupport
import Testing

@Suite
struct ImageFormatTests {
    init() throws {
        try #require(ImageTest.productsBuilt, "build guest-init, guest-agent and compose-guest first (swift build)")
    }

    @Test func ext4ReadsBackWithOwnersModesLinksAndNodes() throws {
        let scratch = try ScratchDirectory("gk-ext4")
        let image = try ImageTest.sharedImage("ext4")

        let fsck = try Command.run(["e2fsck", "-fn", image])
        #expect(fsck.succeeded, "e2fsck: \(fsck)")
        let header = try Command.run(["dumpe2fs", "-h", image]).stdout
        #expect(header.contains("Filesystem volume name:   guestroot"))
        #expect(header.contains("Block size:               4096"))
        #expect(!header.contains("has_journal"), "no journal by default")

        let expectations: [(String, String, String, Int, Int)] = [
            ("/sbin/init", "regular", "0755", 0, 0), ("/sbin/guest-agent", "regular", "0755", 0, 0),
            ("/tmp", "directory", "01777", 0, 0), ("/root", "directory", "0700", 0, 0), ("/proc", "directory", "0555", 0, 0),
            ("/etc/shadow", "regular", "0600", 0, 0), ("/etc/passwd", "regular", "0644", 0, 0),
            ("/dev/console", "character", "0600", 0, 0), ("/dev/null", "character", "0666", 0, 0),
            ("/etc/mtab", "symlink", "0777", 0, 0),
        ]
        for (path, type, mode, uid, gid) in expectations {
            let stat = try #require(try ImageTest.ext4Stat(image, path), "\(path) missing")
            #expect(stat.type == type, "\(path)")
            #expect(stat.mode == mode, "\(path)")
            #expect(stat.uid == uid && stat.gid == gid, "\(path)")
        }
        #expect(try ImageTest.debugfs(image, "stat /dev/console").contains("Device major/minor number: 05:01"))
        #expect(try ImageTest.debugfs(image, "stat /etc/mtab").contains("Fast link dest: \"../proc/self/mounts\""))

        // The installed init is byte-identical to the built one.
        let dumped = scratch.file("init.out")
        try Command.run(["debugfs", "-R", "dump /sbin/init \(dumped)", image])
        #expect(try ImageTest.sha256(dumped) == (try ImageTest.sha256(ImageTest.guestInit)))
    }

    @Test func erofsReadsBackWithOwnersModesAndLinks() throws {
        let scratch = try ScratchDirectory("gk-erofs")
        let image = try ImageTest.sharedImage("erofs")
        let fsck = try Command.run(["fsck.erofs", image])
        #expect(fsck.succeeded, "fsck.erofs: \(fsck)")
        let initInfo = try Command.run(["dump.erofs", "--path=/sbin/init", image]).stdout
        #expect(initInfo.contains("Uid: 0   Gid: 0  Access: 0755"))
        #expect(initInfo.contains("regular file"))
        #expect(try Command.run(["dump.erofs", "-S", image]).stdout.contains("Filesystem symlink file count:\t\t2"))

        let root = scratch.file("root")
        try ImageTest.extract(image, format: "erofs", into: root)
        let attributes = try FileManager.default.attributesOfItem(atPath: root + "/tmp")
        #expect((attributes[.posixPermissions] as? Int) == 0o1777)
        #expect((try FileManager.default.attributesOfItem(atPath: root + "/etc/shadow")[.posixPermissions] as? Int) == 0o600)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/etc/mtab") == "../proc/self/mounts")
        #expect(try ImageTest.sha256(root + "/sbin/guest-agent") == (try ImageTest.sha256(ImageTest.guestAgent)))
    }

    @Test func erofsLz4hcCompresses() throws {
        let scratch = try ScratchDirectory("gk-erofs-lz4")
        let plain = try ImageTest.sharedImage("erofs")
        let packed = scratch.file("packed.erofs")
        try ImageTest.composeDefault(["--format", "erofs", "--compression", "lz4hc", "-o", packed])
        #expect(try Command.run(["fsck.erofs", packed]).succeeded)
        let stats = try Command.run(["dump.erofs", "-S", packed]).stdout
        #expect(!stats.contains("Filesystem compressed files:            0"), "\(stats)")
        let size = { (path: String) in (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
        #expect(try size(packed) < (try size(plain)))
    }

    @Test(arguments: ["gzip", "zstd"])
    func initramfsListsWithCpio(compression: String) throws {
        let scratch = try ScratchDirectory("gk-initramfs")
        let image = try ImageTest.sharedImage("initramfs", ["--compression", compression])
        let decompress = compression == "gzip" ? "gzip -dc" : "zstd -dcq"
        let listing = try Command.run(["sh", "-c", "\(decompress) '\(image)' | cpio -tv --quiet"])
        #expect(listing.succeeded, "\(listing)")
        let lines = listing.stdout.split(separator: "\n").map(String.init)
        func line(_ name: String) -> String? { lines.first { $0.hasSuffix(" " + name) || $0.contains(" " + name + " -> ") } }
        #expect(line("init")?.hasPrefix("-rwxr-xr-x   2 root") == true, "hard link to /sbin/init: \(line("init") ?? "missing")")
        #expect(line("sbin/init")?.hasPrefix("-rwxr-xr-x   2 root") == true)
        #expect(line("sbin/guest-agent")?.hasPrefix("-rwxr-xr-x   1 root") == true)
        let console = line("dev/console")?.split(separator: " ").prefix(6).joined(separator: " ")
        #expect(console == "crw------- 1 root root 5, 1", "\(line("dev/console") ?? "missing")")
        #expect(line("dev/null")?.hasPrefix("crw-rw-rw-") == true)
        #expect(line("tmp")?.hasPrefix("drwxrwxrwt") == true)
        #expect(line("etc/mtab -> ../proc/self/mounts")?.hasPrefix("lrwxrwxrwx") == true)
        // GNU cpio extracts the linked pair with the data; both names hold guest-init.
        let root = scratch.file("root")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let extracted = try Command.run(["sh", "-c", "\(decompress) '\(image)' | cpio -idm --quiet --no-absolute-filenames"],
                                        currentDirectory: root)
        #expect(extracted.succeeded, "\(extracted)")
        let expected = try ImageTest.sha256(ImageTest.guestInit)
        #expect(try ImageTest.sha256(root + "/init") == expected)
        #expect(try ImageTest.sha256(root + "/sbin/init") == expected)
    }

    @Test(arguments: ["ext4", "erofs", "initramfs"])
    func everyNeededLibraryResolvesInsideTheImage(format: String) throws {
        let scratch = try ScratchDirectory("gk-closure")
        let image = try ImageTest.sharedImage(format)
        let root = scratch.file("root")
        try ImageTest.extract(image, format: format, into: root)
        let (checked, problems) = try ImageTest.closureProblems(root: root)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        // guest-init, guest-agent and at least libc: a closure was really there to check.
        #expect(checked >= 3)
        #expect(FileManager.default.fileExists(atPath: root + "/lib64/ld-linux-x86-64.so.2"))
        let manifest = try ImageTest.manifest(image)
        let libraries = try #require((manifest["contents"] as? [String: Any])?["libraries"] as? [String])
        for library in libraries { #expect(FileManager.default.fileExists(atPath: root + library), "\(library)") }
    }

    @Test(arguments: ["ext4", "erofs", "initramfs"])
    func twoBuildsWithTheSameEpochAreIdentical(format: String) throws {
        let scratch = try ScratchDirectory("gk-repro")
        let first = try ImageTest.sharedImage(format)
        let second = scratch.file("b.img"), later = scratch.file("c.img")
        try ImageTest.composeDefault(["--format", format, "-o", second])
        try ImageTest.composeDefault(["--format", format, "-o", later], epoch: "1700000001")
        let digest = try ImageTest.sha256(first)
        #expect(try ImageTest.sha256(second) == digest)
        // The epoch really reaches the bytes (timestamps and, for filesystems, the UUID).
        #expect(try ImageTest.sha256(later) != digest)
        let manifest = try ImageTest.manifest(first)
        #expect((manifest["image"] as? [String: Any])?["sha256"] as? String == digest)
    }
}
