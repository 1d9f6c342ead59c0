// Reads tar archives (POSIX ustar with pax extended headers, and GNU long names) into tree entries, so a base
// layer's owners, modes, symlinks and device nodes reach the image without root. Header layout (POSIX.1-2001,
// 512-byte blocks): name[100] @0, mode[8] @100, uid[8] @108, gid[8] @116, size[12] @124, mtime[12] @136,
// chksum[8] @148, typeflag @156, linkname[100] @157, magic "ustar" @257, uname @265, gname @297,
// devmajor[8] @329, devminor[8] @337, prefix[155] @345. Numbers are octal text, or base-256 when the first byte
// has its high bit set. Typeflags: '0'/NUL file, '1' hard link, '2' symlink, '3' char, '4' block, '5' dir,
// '6' fifo, '7' contiguous file, 'x' pax header for the next member, 'g' global pax, 'L'/'K' GNU long name/link.
import Foundation

/// One member of a tar archive.
public struct TarMember: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case file, hardLink(String), symlink(String), characterDevice(UInt32, UInt32), blockDevice(UInt32, UInt32)
        case directory, fifo
    }
    /// Normalised absolute guest path ("/etc/passwd").
    public let path: String
    public let kind: Kind
    public let permissions: UInt32
    public let uid: UInt32
    public let gid: UInt32
    /// Byte range of the content in the archive data (files only).
    public let contentRange: Range<Int>
}

/// A parsed tar archive held in memory (decompressed).
public struct TarArchive {
    public let data: Data
    public let members: [TarMember]

    /// Reads `path`, decompressing gzip or zstd (by magic number) with the system tools.
    public init(path: String, scratch: String) throws {
        guard let head = FileHandle(forReadingAtPath: path) else {
            throw ComposeError.badBase(path: path, reason: "cannot open")
        }
        let magic = (try? head.read(upToCount: 4)) ?? Data()
        try? head.close()
        var plainPath = path
        if magic.starts(with: [0x1f, 0x8b]) || magic.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) {
            plainPath = scratch.joinedPath("layer-\(UUID().uuidString.prefix(8)).tar")
            let tool = magic.starts(with: [0x1f, 0x8b]) ? "gzip" : "zstd"
            try HostTool.run(tool, ["-dc", path] + (tool == "zstd" ? ["-q"] : []), stdoutFile: plainPath)
        }
        defer { if plainPath != path { try? FileManager.default.removeItem(atPath: plainPath) } }
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: plainPath)) else {
            throw ComposeError.badBase(path: path, reason: "cannot read")
        }
        try self.init(data: data, name: path)
    }

    /// Parses an uncompressed archive; `name` is used in errors.
    public init(data: Data, name: String) throws {
        self.data = data
        var members: [TarMember] = []
        var offset = 0
        var pax: [String: String] = [:]
        var globalPax: [String: String] = [:]
        var longName: String?
        var longLink: String?
        let reader = ByteReader(data)
        func field(_ at: Int, _ length: Int) -> String { reader.cString(offset + at, limit: length) }
        func number(_ at: Int, _ length: Int) throws -> UInt64 {
            let first = reader.u8(offset + at)
            if first & 0x80 != 0 {
                var value: UInt64 = UInt64(first & 0x7f)
                for index in 1..<length { value = value << 8 | UInt64(reader.u8(offset + at + index)) }
                return value
            }
            let text = field(at, length).trimmingCharacters(in: CharacterSet(charactersIn: " \0"))
            if text.isEmpty { return 0 }
            guard let value = UInt64(text, radix: 8) else {
                throw ComposeError.badBase(path: name, reason: "bad number '\(text)' in the header at byte \(offset)")
            }
            return value
        }
        while offset + 512 <= data.count {
            if reader.bytes(offset, 512).allSatisfy({ $0 == 0 }) { break }  // end-of-archive blocks
            let stored = try number(148, 8)
            var sum: UInt64 = 0
            for index in 0..<512 { sum += (148..<156).contains(index) ? 32 : UInt64(reader.u8(offset + index)) }
            guard sum == stored else { throw ComposeError.badBase(path: name, reason: "header checksum mismatch at byte \(offset); not a tar archive?") }
            let type = reader.u8(offset + 156)
            var size = try number(124, 12)
            if let paxSize = pax["size"].flatMap({ UInt64($0) }) { size = paxSize }
            let contentStart = offset + 512
            let contentEnd = contentStart + Int(size)
            guard contentEnd <= data.count else { throw ComposeError.badBase(path: name, reason: "truncated member at byte \(offset)") }
            let content = data.subdata(in: contentStart..<contentEnd)
            defer { offset = contentStart + Int(ByteCount.roundUp(size, to: 512)) }
            switch type {
            case UInt8(ascii: "x"):
                pax = Self.parsePax(content)
                continue
            case UInt8(ascii: "g"):
                globalPax.merge(Self.parsePax(content)) { $1 }
                continue
            case UInt8(ascii: "L"):
                longName = String(decoding: content.prefix { $0 != 0 }, as: UTF8.self)
                continue
            case UInt8(ascii: "K"):
                longLink = String(decoding: content.prefix { $0 != 0 }, as: UTF8.self)
                continue
            default: break
            }
            let attributes = globalPax.merging(pax) { $1 }
            var rawName = field(0, 100)
            let prefix = field(345, 155)
            if field(257, 5) == "ustar", !prefix.isEmpty { rawName = prefix + "/" + rawName }
            rawName = attributes["path"] ?? longName ?? rawName
            let link = attributes["linkpath"] ?? longLink ?? field(157, 100)
            pax = [:]
            longName = nil
            longLink = nil
            let path = try Self.guestPath(rawName, archive: name)
            let mode = UInt32(try number(100, 8) & 0o7777)
            let uid = try attributes["uid"].flatMap { UInt32($0) } ?? UInt32(clamping: number(108, 8))
            let gid = try attributes["gid"].flatMap { UInt32($0) } ?? UInt32(clamping: number(116, 8))
            let major = UInt32(clamping: try number(329, 8))
            let minor = UInt32(clamping: try number(337, 8))
            let kind: TarMember.Kind
            switch type {
            case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): kind = rawName.hasSuffix("/") ? .directory : .file
            case UInt8(ascii: "1"): kind = .hardLink(try Self.guestPath(link, archive: name))
            case UInt8(ascii: "2"): kind = .symlink(link)
            case UInt8(ascii: "3"): kind = .characterDevice(major, minor)
            case UInt8(ascii: "4"): kind = .blockDevice(major, minor)
            case UInt8(ascii: "5"): kind = .directory
            case UInt8(ascii: "6"): kind = .fifo
            default: continue  // sockets, sparse and vendor members: not part of a rootfs
            }
            members.append(TarMember(path: path, kind: kind, permissions: mode, uid: uid, gid: gid,
                                     contentRange: contentStart..<contentEnd))
        }
        self.members = members
    }

    /// Pax records: "<length> <key>=<value>\n".
    static func parsePax(_ data: Data) -> [String: String] {
        var result: [String: String] = [:]
        for record in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let space = record.firstIndex(of: " "), let equals = record[space...].firstIndex(of: "=") else { continue }
            result[String(record[record.index(after: space)..<equals])] = String(record[record.index(after: equals)...])
        }
        return result
    }

    /// "./usr/bin/x" → "/usr/bin/x"; a ".." component is refused (it would escape the root).
    static func guestPath(_ raw: String, archive: String) throws -> String {
        let parts = raw.split(separator: "/").filter { $0 != "." && !$0.isEmpty }
        if parts.contains("..") { throw ComposeError.badBase(path: archive, reason: "member \(raw) climbs out of the root with '..'") }
        return "/" + parts.joined(separator: "/")
    }
}
