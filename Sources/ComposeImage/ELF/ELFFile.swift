// A minimal ELF reader: just what the dynamic loader reads to find an object's libraries.
// Layout from the System V gABI and glibc's <elf.h>: e_ident (16 bytes: magic 7f 'E' 'L' 'F', EI_CLASS at 4
// (1 = 32-bit, 2 = 64-bit), EI_DATA at 5 (1 = little-endian)), e_type, e_machine, e_phoff, e_phentsize, e_phnum.
// Program headers give PT_INTERP (3, the loader's path) and PT_DYNAMIC (2); dynamic entries give DT_NEEDED (1),
// DT_STRTAB (5, a virtual address mapped to a file offset through the PT_LOAD (1) segments), DT_STRSZ (10),
// DT_SONAME (14), DT_RPATH (15) and DT_RUNPATH (29).
import Foundation

/// The dynamic-linking facts of one ELF file: interpreter, needed libraries, search paths.
public struct ELFFile: Sendable, Equatable {
    /// 32- or 64-bit, from EI_CLASS.
    public let is64Bit: Bool
    /// e_machine (62 = x86-64, 183 = AArch64).
    public let machine: UInt16
    /// e_type (2 = executable, 3 = shared object or PIE).
    public let type: UInt16
    /// PT_INTERP, if the file asks for a dynamic loader.
    public let interpreter: String?
    /// DT_NEEDED entries in file order.
    public let needed: [String]
    /// DT_SONAME.
    public let soname: String?
    /// DT_RPATH split at ':' (searched before LD_LIBRARY_PATH, and inherited, unless DT_RUNPATH is present).
    public let rpath: [String]
    /// DT_RUNPATH split at ':' (searched after LD_LIBRARY_PATH, for this object's own needs only).
    public let runpath: [String]

    /// Whether the loader would accept this file as a library for `other` (same class and machine).
    public func isCompatible(with other: ELFFile) -> Bool { is64Bit == other.is64Bit && machine == other.machine }

    /// Reads the ELF at `path`; `role` names it in errors ("--init", "library").
    public init(path: String, role: String = "file") throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw ComposeError.unreadableInput(role: role, path: path, reason: exists ? "permission denied" : "no such file")
        }
        defer { try? handle.close() }
        let data: Data
        do { data = try handle.readToEnd() ?? Data() } catch {
            throw ComposeError.unreadableInput(role: role, path: path, reason: "read failed: \(error)")
        }
        do { try self.init(bytes: data) } catch let reason as ELFFormatError {
            throw ComposeError.notELF(role: role, path: path, reason: reason.reason)
        }
    }

    /// Parses ELF bytes; throws `ELFFormatError` when they are not a well-formed little-endian ELF.
    public init(bytes: Data) throws {
        let reader = ByteReader(bytes)
        guard bytes.count >= 52, reader.bytes(0, 4) == [0x7f, 0x45, 0x4c, 0x46] else {
            throw ELFFormatError("no ELF magic")
        }
        let elfClass = reader.u8(4)
        guard elfClass == 1 || elfClass == 2 else { throw ELFFormatError("unknown ELF class \(elfClass)") }
        guard reader.u8(5) == 1 else { throw ELFFormatError("big-endian ELF is not supported") }
        let wide = elfClass == 2
        is64Bit = wide
        type = reader.u16(16)
        machine = reader.u16(18)
        // Every offset and size below comes from the file: each sum is checked and each range is tested
        // against the file's length before it is read, so a crafted header is an error, never a trap.
        let fileSize = UInt64(bytes.count)
        func within(_ offset: UInt64, _ length: UInt64) -> Bool {
            let (end, overflow) = offset.addingReportingOverflow(length)
            return !overflow && end <= fileSize
        }
        let phoff = wide ? reader.u64(32) : UInt64(reader.u32(28))
        let phentsize = UInt64(reader.u16(wide ? 54 : 42))
        let phnum = UInt64(reader.u16(wide ? 56 : 44))
        guard phentsize >= (wide ? 56 : 32), within(phoff, phentsize * phnum) else {
            throw ELFFormatError("program headers lie outside the file")
        }

        struct Segment { let type: UInt32; let offset: UInt64; let vaddr: UInt64; let filesz: UInt64 }
        var segments: [Segment] = []
        for index in 0..<Int(phnum) {
            let base = Int(phoff) + index * Int(phentsize)
            if wide {
                segments.append(Segment(type: reader.u32(base), offset: reader.u64(base + 8),
                                        vaddr: reader.u64(base + 16), filesz: reader.u64(base + 32)))
            } else {
                segments.append(Segment(type: reader.u32(base), offset: UInt64(reader.u32(base + 4)),
                                        vaddr: UInt64(reader.u32(base + 8)), filesz: UInt64(reader.u32(base + 16))))
            }
        }
        func fileOffset(ofAddress address: UInt64) -> UInt64? {
            for segment in segments where segment.type == 1 && address >= segment.vaddr {
                let delta = address - segment.vaddr
                guard delta < segment.filesz else { continue }
                let (offset, overflow) = segment.offset.addingReportingOverflow(delta)
                if !overflow { return offset }
            }
            return nil
        }

        var interpreter: String?
        if let interp = segments.first(where: { $0.type == 3 }) {
            guard within(interp.offset, interp.filesz) else { throw ELFFormatError("PT_INTERP outside the file") }
            interpreter = reader.cString(Int(interp.offset), limit: Int(interp.filesz))
        }
        self.interpreter = interpreter

        var neededOffsets: [UInt64] = []
        var strtab: UInt64?
        var strsz: UInt64 = 0
        var sonameOffset: UInt64?
        var rpathOffset: UInt64?
        var runpathOffset: UInt64?
        if let dynamic = segments.first(where: { $0.type == 2 }) {
            guard within(dynamic.offset, dynamic.filesz) else { throw ELFFormatError("PT_DYNAMIC outside the file") }
            let entrySize = wide ? 16 : 8
            var at = Int(dynamic.offset)
            let end = Int(dynamic.offset + dynamic.filesz)
            while at + entrySize <= end {
                let tag = wide ? reader.u64(at) : UInt64(reader.u32(at))
                let value = wide ? reader.u64(at + 8) : UInt64(reader.u32(at + 4))
                at += entrySize
                switch tag {
                case 0: at = end  // DT_NULL
                case 1: neededOffsets.append(value)
                case 5: strtab = value
                case 10: strsz = value
                case 14: sonameOffset = value
                case 15: rpathOffset = value
                case 29: runpathOffset = value
                default: break
                }
            }
        }
        var stringTable: (offset: Int, size: Int)?
        if let strtab {
            guard let offset = fileOffset(ofAddress: strtab), within(offset, strsz) else {
                throw ELFFormatError("DT_STRTAB lies outside every PT_LOAD segment")
            }
            stringTable = (Int(offset), Int(strsz))
        }
        func string(_ offset: UInt64?) throws -> String? {
            guard let offset else { return nil }
            guard let table = stringTable, offset < UInt64(table.size) else {
                throw ELFFormatError("dynamic string offset \(offset) outside DT_STRTAB")
            }
            return reader.cString(table.offset + Int(offset), limit: table.size - Int(offset))
        }
        needed = try neededOffsets.compactMap { try string($0) }
        soname = try string(sonameOffset)
        rpath = try string(rpathOffset).map(Self.splitPath) ?? []
        runpath = try string(runpathOffset).map(Self.splitPath) ?? []
    }

    private static func splitPath(_ text: String) -> [String] {
        text.split(separator: ":", omittingEmptySubsequences: true).map(String.init)
    }

    /// Whether `path` starts with the ELF magic (cheap test before a full parse).
    public static func hasMagic(path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4)) == Data([0x7f, 0x45, 0x4c, 0x46])
    }
}

/// Why bytes are not a usable ELF file.
public struct ELFFormatError: Error, CustomStringConvertible {
    public let reason: String
    init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
