// Crafted input through the real CLI: ELF headers whose offsets and sizes wrap around 64 bits, tar headers
// with sizes far beyond the archive (octal, base-256, pax), a file too large for an initramfs. Each is a
// clear `compose-guest image: …` error, never a trap, and leaves nothing at -o. And Ctrl-C in the middle
// of a composition removes the partial image and the scratch directory.
import Foundation
import GuestSys
import GuestTestSupport
import HostProcess
import Testing

struct CraftedInputTests {
    // MARK: ELF

    static func put<T: FixedWidthInteger>(_ value: T, at offset: Int, in bytes: inout [UInt8]) {
        for index in 0..<MemoryLayout<T>.size { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }

    /// A 64-bit little-endian executable header with `segments` program headers (type, offset, vaddr, filesz)
    /// and `tail` appended after them.
    static func elf(segments: [(type: UInt32, offset: UInt64, vaddr: UInt64, filesz: UInt64)], tail: [UInt8] = []) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 64 + 56 * segments.count)
        bytes.replaceSubrange(0..<6, with: [0x7f, 0x45, 0x4c, 0x46, 2, 1])
        put(UInt16(2), at: 16, in: &bytes)       // ET_EXEC
        put(UInt16(62), at: 18, in: &bytes)      // EM_X86_64
        put(UInt64(64), at: 32, in: &bytes)      // e_phoff
        put(UInt16(56), at: 54, in: &bytes)      // e_phentsize
        put(UInt16(segments.count), at: 56, in: &bytes)
        for (index, segment) in segments.enumerated() {
            let base = 64 + 56 * index
            put(segment.type, at: base, in: &bytes)
            put(segment.offset, at: base + 8, in: &bytes)
            put(segment.vaddr, at: base + 16, in: &bytes)
            put(segment.filesz, at: base + 32, in: &bytes)
        }
        return bytes + tail
    }

    static let craftedELFs: [(name: String, bytes: [UInt8], reason: String)] = [
        ("interp-wraps", elf(segments: [(3, 0xffff_ffff_ffff_fff0, 0, 0x100)]), "PT_INTERP outside the file"),
        ("dynamic-wraps", elf(segments: [(2, 0xffff_ffff_ffff_ff00, 0, 0x200)]), "PT_DYNAMIC outside the file"),
        ("load-wraps", {
            // PT_LOAD at the top of the address space, PT_DYNAMIC pointing DT_STRTAB into it.
            var dynamic = [UInt8](repeating: 0, count: 32)
            put(UInt64(5), at: 0, in: &dynamic)                       // DT_STRTAB
            put(UInt64(0xffff_ffff_ffff_f800), at: 8, in: &dynamic)
            return elf(segments: [(1, 0, 0xffff_ffff_ffff_f000, 0x2000), (2, 64 + 112, 0, 32)], tail: dynamic)
        }(), "DT_STRTAB lies outside every PT_LOAD segment"),
        ("headers-beyond", elf(segments: []) + [], "program headers lie outside the file"),
    ]

    @Test(arguments: 0..<craftedELFs.count)
    func craftedELFIsAClearError(index: Int) throws {
        let crafted = Self.craftedELFs[index]
        let scratch = try ScratchDirectory("gk-crafted")
        var bytes = crafted.bytes
        if crafted.name == "headers-beyond" { Self.put(UInt16(40), at: 56, in: &bytes) }  // 40 headers, none there
        try Data(bytes).write(to: URL(fileURLWithPath: scratch.file(crafted.name)))
        let result = try ImageTest.compose(["image", "--init", scratch.file(crafted.name), "-o", scratch.file("g.img")])
        try BadInputTests.expectFailure(result, mentioning: "compose-guest image: --init \(scratch.file(crafted.name)) is not an ELF executable (\(crafted.reason))",
                                        cleanDirectory: scratch.path)
        #expect(!result.signaled, "no trap")
    }

    // MARK: tar

    /// One ustar header block with `size` written into the size field as given (octal text or raw bytes).
    static func tarHeader(name: String, type: UInt8 = UInt8(ascii: "0"), size: [UInt8]) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 512)
        header.replaceSubrange(0..<name.utf8.count, with: Array(name.utf8))
        for (offset, text) in [(100, "0000644"), (108, "0000000"), (116, "0000000"), (136, "00000000000")] {
            header.replaceSubrange(offset..<offset + text.utf8.count, with: Array(text.utf8))
        }
        header.replaceSubrange(124..<124 + size.count, with: size)
        header[156] = type
        header.replaceSubrange(257..<263, with: Array("ustar\0".utf8))
        for index in 148..<156 { header[index] = 32 }
        let sum = header.reduce(0) { $0 + Int($1) }
        header.replaceSubrange(148..<156, with: Array(String(format: "%06o\0 ", sum).utf8))
        return header
    }

    static let craftedTars: [(name: String, bytes: [UInt8], reason: String)] = [
        ("octal-8GiB", tarHeader(name: "big", size: Array("77777777777".utf8)) + [UInt8](repeating: 0x41, count: 512),
         "truncated member"),
        ("base256-overflow", tarHeader(name: "big", size: [0xff] + [UInt8](repeating: 0xff, count: 11)),
         "does not fit 64 bits"),
        ("pax-size-max", {
            let record = "30 size=18446744073709551615\n"
            return tarHeader(name: "pax", type: UInt8(ascii: "x"), size: Array(String(format: "%011o", record.utf8.count).utf8))
                + Array(record.utf8) + [UInt8](repeating: 0, count: 512 - record.utf8.count)
                + tarHeader(name: "big", size: Array("00000000000".utf8))
        }(), "impossibly large"),
        ("pax-header-huge", tarHeader(name: "pax", type: UInt8(ascii: "x"), size: Array("77777777777".utf8)), "extended header"),
    ]

    @Test(arguments: 0..<craftedTars.count)
    func craftedTarIsAClearError(index: Int) throws {
        let crafted = Self.craftedTars[index]
        let scratch = try ScratchDirectory("gk-crafted")
        let tar = scratch.file(crafted.name + ".tar")
        try Data(crafted.bytes).write(to: URL(fileURLWithPath: tar))
        let result = try ImageTest.compose(["image", "--init", ImageTest.guestInit, "--base", tar, "-o", scratch.file("g.img")])
        try BadInputTests.expectFailure(result, mentioning: "compose-guest image: base \(tar): ", cleanDirectory: scratch.path)
        #expect(result.stderr.contains(crafted.reason), "\(result.stderr)")
        #expect(!result.signaled, "no trap")
    }

    // MARK: cpio

    @Test func aFileOf4GiBOrMoreCannotGoIntoAnInitramfs() throws {
        let scratch = try ScratchDirectory("gk-crafted")
        let big = scratch.file("big")
        #expect(try Command.run(["truncate", "-s", "4294967297", big]).succeeded)  // sparse: no disk used
        let result = try ImageTest.compose(["image", "--init", ImageTest.guestInit, "--format", "initramfs", "--add", big + ":/big",
                                            "-o", scratch.file("g.img")])
        try BadInputTests.expectFailure(result, mentioning: "compose-guest image: \(big) is 4294967297 bytes; an initramfs (newc cpio) holds files of at most 4294967295 bytes",
                                        cleanDirectory: scratch.path)
        // The same limit for a tar member that claims it (checked before any of it is read).
        let tar = scratch.file("claims-5GiB.tar")
        try Data(Self.tarHeader(name: "big", size: Array("50000000000".utf8))).write(to: URL(fileURLWithPath: tar))
        let member = try ImageTest.compose(["image", "--init", ImageTest.guestInit, "--format", "initramfs", "--base", tar,
                                            "-o", scratch.file("g.img")])
        try BadInputTests.expectFailure(member, mentioning: "member /big is 5368709120 bytes; an initramfs (newc cpio) holds",
                                        cleanDirectory: scratch.path)
    }

    // MARK: Ctrl-C

    @Test func sigintWhileComposingRemovesThePartialImageAndTheScratchDirectory() throws {
        let scratch = try ScratchDirectory("gk-interrupt")
        let temporary = scratch.file("tmp")
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        let payload = scratch.file("payload")
        #expect(try Command.run(["sh", "-c", "head -c 268435456 /dev/urandom > '\(payload)'"]).succeeded)
        let output = scratch.file("out/g.img")
        try FileManager.default.createDirectory(atPath: scratch.file("out"), withIntermediateDirectories: true)
        var command = ChildCommand(ImageTest.composeGuest, ["image", "--init", ImageTest.guestInit, "--agent", ImageTest.guestAgent,
                                                            "--add", payload + ":/payload", "-o", output])
        command.environment["TMPDIR"] = temporary
        command.environment["SOURCE_DATE_EPOCH"] = ImageTest.epoch
        command.output = .file(scratch.file("compose.log"))
        command.error = .standardOutput
        command.lifetime = .seconds(300)
        let compose = try ChildProcess(command)
        // Wait for the partial image: the filesystem is being written (scratch directory and partial exist).
        let deadline = ContinuousClock.now + .seconds(120)
        var partialSeen = false
        while compose.isRunning, ContinuousClock.now < deadline {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: scratch.file("out"))) ?? []
            if names.contains(where: { $0.contains(".partial-") }) { partialSeen = true; break }
            Thread.sleep(forTimeInterval: 0.002)
        }
        let log = { (try? String(contentsOfFile: scratch.file("compose.log"), encoding: .utf8)) ?? "" }
        try #require(partialSeen, "the composition ended before its partial image was seen: \(log())")
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary).contains { $0.hasPrefix("guestkit-compose-") })
        try Processes.signal(compose.pid, Signal.interrupt)
        let status = compose.wait(timeout: .seconds(60))
        #expect(status == .signaled(signal: Signal.interrupt, coreDumped: false), "\(String(describing: status)): \(log())")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.file("out")).isEmpty, "nothing at -o, no partial image")
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary).isEmpty, "the scratch directory is gone")
        #expect(!log().contains("compose-guest image: "), "an interrupt is not reported as a failure: \(log())")
    }
}
