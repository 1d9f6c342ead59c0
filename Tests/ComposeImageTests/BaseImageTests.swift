// Bases under the guest: an OCI layout built here with tar and a hand-written index (layers applied in order,
// whiteouts honoured, header owners kept), a plain tar, and a directory.
import ComposeImage
import Foundation
import GuestTestSupport
import Testing

@Suite
struct BaseImageTests {
    init() throws {
        try #require(ImageTest.productsBuilt, "build guest-init, guest-agent and compose-guest first (swift build)")
    }

    static func write(_ text: String, _ path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Stores a file as an OCI blob and returns its descriptor JSON.
    static func blob(_ file: String, layout: String, mediaType: String) throws -> String {
        let digest = try ImageTest.sha256(file)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int)
        try FileManager.default.createDirectory(atPath: layout + "/blobs/sha256", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: file, toPath: layout + "/blobs/sha256/" + digest)
        return #"{"mediaType":"\#(mediaType)","digest":"sha256:\#(digest)","size":\#(size)}"#
    }

    @Test func ociLayoutLayersApplyInOrderWithWhiteouts() throws {
        let scratch = try ScratchDirectory("gk-oci")
        // Layer 1 (gzip): /etc/keep, /etc/gone, /data/old1, /data/old2, a symlink, and /home/user owned by 1000:1000.
        let one = scratch.file("one")
        try Self.write("keep\n", one + "/etc/keep")
        try Self.write("gone\n", one + "/etc/gone")
        try Self.write("1\n", one + "/data/old1")
        try Self.write("2\n", one + "/data/old2")
        try FileManager.default.createSymbolicLink(atPath: one + "/etc/alias", withDestinationPath: "keep")
        try Self.write("mine\n", scratch.file("user/home/user/notes"))
        var result = try Command.run(["tar", "--numeric-owner", "--owner=0", "--group=0", "--sort=name", "-C", one, "-cf",
                                      scratch.file("layer1.tar"), "."])
        #expect(result.succeeded, "\(result)")
        result = try Command.run(["tar", "--numeric-owner", "--owner=1000", "--group=1000", "-C", scratch.file("user"), "-rf",
                                  scratch.file("layer1.tar"), "home"])
        #expect(result.succeeded, "\(result)")
        #expect(try Command.run(["gzip", "-n", scratch.file("layer1.tar")]).succeeded)
        // Layer 2 (plain tar): whites out /etc/gone, makes /data opaque and adds /data/new.
        let two = scratch.file("two")
        try Self.write("", two + "/etc/.wh.gone")
        try Self.write("", two + "/data/.wh..wh..opq")
        try Self.write("new\n", two + "/data/new")
        result = try Command.run(["tar", "--numeric-owner", "--owner=0", "--group=0", "--sort=name", "-C", two, "-cf",
                                  scratch.file("layer2.tar"), "."])
        #expect(result.succeeded, "\(result)")

        let layout = scratch.file("layout")
        let layer1 = try Self.blob(scratch.file("layer1.tar.gz"), layout: layout, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip")
        let layer2 = try Self.blob(scratch.file("layer2.tar"), layout: layout, mediaType: "application/vnd.oci.image.layer.v1.tar")
        try Self.write("{}", scratch.file("config.json"))
        let config = try Self.blob(scratch.file("config.json"), layout: layout, mediaType: "application/vnd.oci.image.config.v1+json")
        try Self.write(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":\#(config),"layers":[\#(layer1),\#(layer2)]}"#,
                       scratch.file("manifest.json"))
        let manifest = try Self.blob(scratch.file("manifest.json"), layout: layout, mediaType: "application/vnd.oci.image.manifest.v1+json")
        try Self.write(#"{"schemaVersion":2,"manifests":[\#(manifest)]}"#, layout + "/index.json")
        try Self.write(#"{"imageLayoutVersion":"1.0.0"}"#, layout + "/oci-layout")

        let image = scratch.file("guest.img")
        try ImageTest.composeDefault(["--base", layout, "-o", image])
        #expect(try Command.run(["e2fsck", "-fn", image]).succeeded)
        let root = scratch.file("root")
        try ImageTest.extract(image, format: "ext4", into: root)
        #expect(try String(contentsOfFile: root + "/etc/keep", encoding: .utf8) == "keep\n")
        #expect(!FileManager.default.fileExists(atPath: root + "/etc/gone"), "whiteout .wh.gone")
        #expect(!FileManager.default.fileExists(atPath: root + "/etc/.wh.gone"), "whiteout files are not copied")
        #expect(!FileManager.default.fileExists(atPath: root + "/data/old1") && !FileManager.default.fileExists(atPath: root + "/data/old2"),
                "opaque directory")
        #expect(try String(contentsOfFile: root + "/data/new", encoding: .utf8) == "new\n")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/etc/alias") == "keep")
        let owner = try #require(try ImageTest.ext4Stat(image, "/home/user/notes"))
        #expect(owner.uid == 1000 && owner.gid == 1000)
        // The guest's own files still land on top of the base.
        #expect(FileManager.default.fileExists(atPath: root + "/sbin/init"))
    }

    @Test func compressedTarBaseKeepsDeviceNodesAndModes() throws {
        try #require(geteuid() == 0, "building a tar with a device node needs root")
        let scratch = try ScratchDirectory("gk-tarbase")
        let tree = scratch.file("tree")
        try Self.write("#!/bin/sh\n", tree + "/usr/bin/tool")
        chmod(tree + "/usr/bin/tool", 0o4750)
        try FileManager.default.createDirectory(atPath: tree + "/dev", withIntermediateDirectories: true)
        #expect(mknod(tree + "/dev/zero", S_IFCHR | 0o666, (1 << 8) | 5) == 0)
        chmod(tree + "/dev/zero", 0o666)
        #expect(try Command.run(["tar", "--numeric-owner", "-C", tree, "--zstd", "-cf", scratch.file("base.tar.zst"), "."]).succeeded)
        let image = scratch.file("guest.img")
        try ImageTest.composeDefault(["--base", scratch.file("base.tar.zst"), "-o", image])
        let tool = try #require(try ImageTest.ext4Stat(image, "/usr/bin/tool"))
        #expect(tool.mode == "04750")
        let zero = try #require(try ImageTest.ext4Stat(image, "/dev/zero"))
        #expect(zero.type == "character" && zero.mode == "0666")
        #expect(try ImageTest.debugfs(image, "stat /dev/zero").contains("Device major/minor number: 01:05"))
    }

    @Test func directoryBaseAndAdditionsLandInTheImage() throws {
        let scratch = try ScratchDirectory("gk-dirbase")
        try Self.write("from base\n", scratch.file("base/etc/motd"))
        try Self.write("added\n", scratch.file("extra/hello.txt"))
        let image = scratch.file("guest.img")
        try ImageTest.composeDefault(["--base", scratch.file("base"), "--add", scratch.file("extra/hello.txt") + ":/srv/hello.txt",
                                      "--add", scratch.file("extra") + ":/opt/extra", "-o", image])
        let root = scratch.file("root")
        try ImageTest.extract(image, format: "ext4", into: root)
        #expect(try String(contentsOfFile: root + "/etc/motd", encoding: .utf8) == "from base\n")
        #expect(try String(contentsOfFile: root + "/srv/hello.txt", encoding: .utf8) == "added\n")
        #expect(try String(contentsOfFile: root + "/opt/extra/hello.txt", encoding: .utf8) == "added\n")
    }

    @Test func tarMemberClimbingOutIsRefused() throws {
        var header = [UInt8](repeating: 0, count: 512)
        let name = Array("../escape".utf8)
        header.replaceSubrange(0..<name.count, with: name)
        for (offset, text) in [(100, "0000644"), (108, "0000000"), (116, "0000000"), (124, "00000000000"), (136, "00000000000")] {
            header.replaceSubrange(offset..<offset + text.utf8.count, with: Array(text.utf8))
        }
        header[156] = UInt8(ascii: "0")
        header.replaceSubrange(257..<263, with: Array("ustar\0".utf8))
        for index in 148..<156 { header[index] = 32 }
        let sum = header.reduce(0) { $0 + Int($1) }
        let checksum = Array(String(format: "%06o\0 ", sum).utf8)
        header.replaceSubrange(148..<156, with: checksum)
        let data = Data(header + [UInt8](repeating: 0, count: 1024))
        #expect(throws: ComposeError.self) { try TarReader.members(in: data, name: "evil.tar") }
    }
}
