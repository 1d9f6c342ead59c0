// ELFFile against readelf on real binaries, and its refusals of what is not an ELF.
import ComposeImage
import Foundation
import GuestTestSupport
import Testing

struct ELFFileTests {
    static func readelfDynamic(_ path: String) throws -> (needed: [String], runpath: [String], interp: String?) {
        let dynamic = try Command.run(["readelf", "-dW", path]).stdout
        var needed: [String] = [], runpath: [String] = []
        for line in dynamic.split(separator: "\n") {
            guard let open = line.lastIndex(of: "["), let close = line.lastIndex(of: "]") else { continue }
            let value = String(line[line.index(after: open)..<close])
            if line.contains("(NEEDED)") { needed.append(value) }
            if line.contains("(RUNPATH)") { runpath = value.split(separator: ":").map(String.init) }
        }
        let headers = try Command.run(["readelf", "-lW", path]).stdout
        let interp = headers.split(separator: "\n").first { $0.contains("program interpreter:") }
            .map { $0.components(separatedBy: "interpreter: ").last!.trimmingCharacters(in: CharacterSet(charactersIn: "]")) }
        return (needed, runpath, interp)
    }

    @Test(arguments: ["guest-init", "guest-agent", "/bin/ls", "/lib/x86_64-linux-gnu/libc.so.6"])
    func agreesWithReadelf(binary: String) throws {
        let path = binary.hasPrefix("/") ? binary : BuiltProducts.path(binary)
        try #require(FileManager.default.fileExists(atPath: path), "\(path) not built")
        let elf = try ELFFile(path: path)
        let reference = try Self.readelfDynamic(path)
        #expect(elf.needed == reference.needed)
        #expect(elf.runpath == reference.runpath)
        #expect(elf.interpreter == reference.interp)
        #expect(elf.is64Bit && elf.machine == 62)
    }

    static func header(ident: [UInt8], phoff: UInt64 = 0, phentsize: UInt16 = 56, phnum: UInt16 = 0) -> Data {
        var bytes = [UInt8](repeating: 0, count: 64)
        bytes.replaceSubrange(0..<ident.count, with: ident)
        for index in 0..<8 { bytes[32 + index] = UInt8(truncatingIfNeeded: phoff >> (8 * UInt64(index))) }
        bytes[54] = UInt8(phentsize & 0xff)
        bytes[56] = UInt8(phnum & 0xff)
        return Data(bytes)
    }

    static let refusals: [(Data, String)] = [
        (Data("#!/bin/sh\necho hi\n".utf8), "no ELF magic"),
        (Data([0x7f, 0x45, 0x4c, 0x46]), "no ELF magic"),  // too short to be a header
        (header(ident: [0x7f, 0x45, 0x4c, 0x46, 3, 1]), "unknown ELF class 3"),
        (header(ident: [0x7f, 0x45, 0x4c, 0x46, 2, 2]), "big-endian ELF is not supported"),
        (header(ident: [0x7f, 0x45, 0x4c, 0x46, 2, 1], phoff: 0xffff, phnum: 4), "program headers lie outside the file"),
    ]

    @Test(arguments: 0..<refusals.count)
    func refusesWhatIsNotAnELF(index: Int) {
        let (bytes, reason) = Self.refusals[index]
        #expect(throws: ELFFormatError.self) { try ELFFile(bytes: bytes) }
        do { _ = try ELFFile(bytes: bytes) } catch { #expect("\(error)" == reason) }
    }

    @Test func truncatedRealBinaryThrowsInsteadOfCrashing() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: "/bin/ls"))
        for length in [64, 200, 1000, 4096] {
            let prefix = data.prefix(length)
            // Either a clean parse of what is there or a format error; never a trap.
            _ = try? ELFFile(bytes: prefix)
        }
        let cut = data.prefix(64)
        #expect(throws: ELFFormatError.self) { try ELFFile(bytes: cut) }
    }
}
