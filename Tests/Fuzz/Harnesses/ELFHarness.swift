import Foundation
import ComposeImage

/// ELF headers, program headers and the dynamic section of any file compose-guest is handed (--init,
/// --agent, added executables, every library of their closure): every offset and size comes from the file.
enum ELFHarness {
    static func run(_ input: FuzzInput) {
        var input = input
        let bytes = input.rest()
        guard let elf = try? ELFFile(bytes: Data(bytes)) else { return }
        // What was read is strings of the file, never more than it holds.
        let total = elf.needed.reduce(0) { $0 + $1.utf8.count } + (elf.interpreter?.utf8.count ?? 0)
        fuzzCheck(total <= bytes.count * 4, "ELF strings longer than the file")
        _ = elf.isCompatible(with: elf)
    }

    static var seeds: [[UInt8]] {
        // A minimal little-endian ELF64 with PT_INTERP and PT_DYNAMIC (DT_NEEDED, DT_SONAME, DT_RUNPATH).
        func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
        func le32(_ v: UInt32) -> [UInt8] { le16(UInt16(v & 0xffff)) + le16(UInt16(v >> 16)) }
        func le64(_ v: UInt64) -> [UInt8] { le32(UInt32(v & 0xffff_ffff)) + le32(UInt32(v >> 32)) }
        let strings = Array("\0/lib64/ld-linux-x86-64.so.2\0libc.so.6\0libfuzz.so.1\0$ORIGIN/../lib\0".utf8)
        let phoff: UInt64 = 64, phnum: UInt16 = 3
        let interpOffset = phoff + UInt64(phnum) * 56
        let strtabOffset = interpOffset + 28
        let dynamicOffset = strtabOffset + UInt64(strings.count)
        var file: [UInt8] = [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        file += le16(3) + le16(62) + le32(1) + le64(0) + le64(phoff) + le64(0) + le32(0) + le16(64) + le16(56) + le16(phnum)
            + le16(64) + le16(0) + le16(0)
        func phdr(_ type: UInt32, _ offset: UInt64, _ size: UInt64) -> [UInt8] {
            le32(type) + le32(4) + le64(offset) + le64(offset) + le64(offset) + le64(size) + le64(size) + le64(8)
        }
        let dynamic = le64(1) + le64(29) + le64(14) + le64(39) + le64(29) + le64(52) + le64(5) + le64(strtabOffset)
            + le64(10) + le64(UInt64(strings.count)) + le64(0) + le64(0)
        file += phdr(1, 0, dynamicOffset + UInt64(dynamic.count)) + phdr(3, interpOffset, 28) + phdr(2, dynamicOffset, UInt64(dynamic.count))
        file += Array(strings[1..<29])
        file += strings + dynamic
        var elf32: [UInt8] = [0x7f, 0x45, 0x4c, 0x46, 1, 1, 1, 0] + [UInt8](repeating: 0, count: 44)
        elf32[16] = 2
        return [file, elf32, Array(file.prefix(100))]
    }
}
