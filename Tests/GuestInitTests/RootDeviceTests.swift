import Foundation
import GuestInit
import GuestTestSupport
import Testing

/// libblkid on real images made by mke2fs and mkfs.erofs (libblkid probes regular files as it probes
/// devices).
@Suite
struct RootDeviceTests {
    static let ext4UUID = "6f1c3a52-1b0e-4d7c-9a55-2f1e0c7d9b10"
    static let erofsUUID = "0d9a8b7c-6e5f-4a3b-8c2d-1e0f9a8b7c6d"

    let scratch: ScratchDirectory
    let ext4: String
    let erofs: String

    init() throws {
        try #require(Command.exists("mke2fs") && Command.exists("mkfs.erofs"), "needs e2fsprogs and erofs-utils")
        scratch = try ScratchDirectory("rootdevice")
        ext4 = scratch.file("root.ext4")
        erofs = scratch.file("root.erofs")
        let made = try Command.run(["mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-L", "guestroot", "-U", Self.ext4UUID,
                                    ext4, "16M"])
        try #require(made.succeeded, "\(made)")
        let content = scratch.file("content")
        try FileManager.default.createDirectory(atPath: content, withIntermediateDirectories: true)
        try "hello".write(toFile: content + "/file", atomically: true, encoding: .utf8)
        let erofsMade = try Command.run(["mkfs.erofs", "-U" + Self.erofsUUID, erofs, content])
        try #require(erofsMade.succeeded, "\(erofsMade)")
    }

    @Test func identifiesExt4() throws {
        #expect(try BlockProbe.identify(ext4) == BlockIdentity(type: "ext4", label: "guestroot", uuid: Self.ext4UUID))
    }

    @Test func identifiesErofs() throws {
        // erofs-utils 1.5 (Debian 12) cannot set a volume label, so erofs roots are found by UUID.
        #expect(try BlockProbe.identify(erofs) == BlockIdentity(type: "erofs", label: nil, uuid: Self.erofsUUID))
    }

    @Test func corruptSuperblockIsAClearError() throws {
        let corrupt = scratch.file("corrupt.ext4")
        try FileManager.default.copyItem(atPath: ext4, toPath: corrupt)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: corrupt))
        try handle.seek(toOffset: 1024)  // the ext4 superblock
        handle.write(Data(repeating: 0xA5, count: 1024))
        try handle.close()
        let error = #expect(throws: RootDeviceError.self) { try BlockProbe.identify(corrupt) }
        #expect(error == .noFilesystem(path: corrupt))
        #expect(error?.description.contains("no filesystem on \(corrupt)") == true)
        #expect(error?.description.contains("corrupt") == true)
    }

    @Test func unformattedAndMissingImages() throws {
        let zeros = scratch.file("zeros")
        _ = FileManager.default.createFile(atPath: zeros, contents: Data(count: 1 << 20))
        #expect(throws: RootDeviceError.noFilesystem(path: zeros)) { try BlockProbe.identify(zeros) }
        let missing = scratch.file("absent")
        let error = #expect(throws: RootDeviceError.self) { try BlockProbe.identify(missing) }
        #expect(error == .unreadable(path: missing, code: 2))
        #expect(error?.description.contains("ENOENT") == true)
    }

    @Test func findsByLabelUUIDAndPath() throws {
        let candidates = { [erofs, ext4] }
        #expect(try RootDevice.find(.label("guestroot"), candidates: candidates, timeoutMilliseconds: 0).path == ext4)
        #expect(try RootDevice.find(.uuid(Self.erofsUUID), candidates: candidates, timeoutMilliseconds: 0).path == erofs)
        #expect(try RootDevice.find(.uuid(Self.ext4UUID), candidates: candidates, timeoutMilliseconds: 0).identity.type == "ext4")
        #expect(try RootDevice.find(.path(ext4), timeoutMilliseconds: 0).identity.label == "guestroot")
    }

    @Test func waitsBoundedThenNamesWhatItSaw() throws {
        let started = Date()
        let error = #expect(throws: RootDeviceError.self) {
            try RootDevice.find(.label("elsewhere"), candidates: { [ext4, erofs] }, timeoutMilliseconds: 200)
        }
        #expect(Date().timeIntervalSince(started) >= 0.2)
        let text = error?.description ?? ""
        #expect(text.hasPrefix("no root LABEL=elsewhere after 0.2 s"))
        #expect(text.contains("\(ext4) (ext4, LABEL=guestroot"))
        #expect(text.contains("attached"))
    }

    @Test func waitsForADeviceThatAppears() throws {
        let late = scratch.file("late.ext4")
        let candidates = { FileManager.default.fileExists(atPath: late) ? [late] : [] }
        // Another thread makes the "device" appear while find() polls; it is found once it exists.
        let source = ext4
        let thread = Thread { try? FileManager.default.copyItem(atPath: source, toPath: late + ".tmp")
            try? FileManager.default.moveItem(atPath: late + ".tmp", toPath: late) }
        thread.start()
        #expect(try RootDevice.find(.label("guestroot"), candidates: candidates, timeoutMilliseconds: 20_000).path == late)
    }

    @Test func partitionUUIDsFromAnMBR() throws {
        // An MBR disk (as in Kata's DAX images): disk signature 0x12345678, partition 1 of type 0x83 at
        // sector 2048, holding the ext4 image. Its PARTUUID is "12345678-01".
        let disk = scratch.file("disk.img")
        var mbr = Data(count: 512)
        mbr.replaceSubrange(440..<444, with: [0x78, 0x56, 0x34, 0x12])
        let sectors = UInt32(16 << 20) / 512
        var entry: [UInt8] = [0x00, 0, 0, 0, 0x83, 0, 0, 0]
        entry += withUnsafeBytes(of: UInt32(2048).littleEndian, Array.init)
        entry += withUnsafeBytes(of: sectors.littleEndian, Array.init)
        mbr.replaceSubrange(446..<462, with: entry)
        mbr[510] = 0x55
        mbr[511] = 0xAA
        var image = mbr + Data(count: 2048 * 512 - 512)
        image.append(try Data(contentsOf: URL(fileURLWithPath: ext4)))
        try image.write(to: URL(fileURLWithPath: disk))

        let partitions = try BlockProbe.partitions(disk)
        #expect(partitions == [PartitionEntry(number: 1, uuid: "12345678-01", offset: 2048 * 512)])
        #expect(try BlockProbe.partitions(ext4).isEmpty)
        // An image file has no partition device nodes; the error says which partition matched.
        let error = #expect(throws: RootDeviceError.self) {
            try RootDevice.find(.partitionUUID("12345678-01"), candidates: { [disk] }, timeoutMilliseconds: 0)
        }
        #expect(error == .partitionWithoutNode(spec: .partitionUUID("12345678-01"), disk: disk, number: 1))
    }

    @Test func imageFilesAreNotDax() {
        #expect(!RootDevice.supportsDax(ext4))
        #expect(!RootDevice.supportsDax("/dev/null"))
    }
}
