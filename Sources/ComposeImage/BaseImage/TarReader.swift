// Reads tar archives (POSIX ustar with pax extended headers, and GNU long names) as a stream, member by
// member, so a base layer of any size passes through a 64 KiB buffer: each file's content goes straight
// into the staging tree, never into memory whole. Owners, modes, symlinks and device nodes reach the image
// without root. Header layout (POSIX.1-2001, 512-byte blocks): name[100] @0, mode[8] @100, uid[8] @108,
// gid[8] @116, size[12] @124, mtime[12] @136, chksum[8] @148, typeflag @156, linkname[100] @157, magic
// "ustar" @257, uname @265, gname @297, devmajor[8] @329, devminor[8] @337, prefix[155] @345. Numbers are
// octal text, or base-256 when the first byte has its high bit set. Typeflags: '0'/NUL file, '1' hard
// link, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo, '7' contiguous file, 'x' pax header for the
// next member, 'g' global pax, 'L'/'K' GNU long name/link. Sizes are untrusted: all arithmetic on them is
// checked, and a member longer than the archive is "truncated", never a trap.
// Why our own reader rather than libarchive: a rootfs needs only these member kinds, the reader is ~200
// lines with its bounds in one place (and fuzzable), and gzip/zstd are streamed through the system tools
// already on every build host, so no C library joins the host tools' link.
import Foundation
import GuestSys
import HostProcess

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
    /// Bytes of content (files only).
    public let size: UInt64
}

/// Where a tar reader's bytes come from: a file, or a decompressor's standard output.
protocol ByteSource {
    /// Up to `count` bytes into `buffer`; 0 at end of input.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// A tar archive read front to back.
public struct TarReader {
    private var source: any ByteSource
    /// The archive's name in messages.
    let name: String
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    /// Bytes consumed from the archive so far (for messages).
    private(set) var offset: UInt64 = 0
    /// Content bytes of the current member not read yet, and its padding after them.
    private var remaining: UInt64 = 0
    private var padding: UInt64 = 0
    private var globalPax: [String: String] = [:]

    /// Pax and GNU long-name headers are read into memory: this is as large as one may be.
    static let metadataLimit: UInt64 = 1 << 20

    init(source: any ByteSource, name: String) {
        self.source = source
        self.name = name
        buffer = [UInt8](repeating: 0, count: 64 << 10)
    }

    /// Parses every member of an in-memory archive (contents skipped); `name` is used in errors.
    public static func members(in data: Data, name: String) throws -> [TarMember] {
        var reader = TarReader(source: MemorySource(bytes: [UInt8](data)), name: name)
        var members: [TarMember] = []
        while let member = try reader.next() {
            members.append(member)
            try reader.skipContent()
        }
        return members
    }

    func failure(_ reason: String) -> ComposeError { .badBase(path: name, reason: reason) }

    // MARK: Members

    /// The next member's header; its content is read with `readContent` or skipped with `skipContent`
    /// (the next call to `next` skips whatever is left). nil at the end of the archive.
    public mutating func next() throws -> TarMember? {
        try skipContent()
        var pax: [String: String] = [:]
        var longName: String?
        var longLink: String?
        while true {
            let headerOffset = offset
            guard let header = try readBlock() else { return nil }  // no end-of-archive blocks: end of input
            if header.allSatisfy({ $0 == 0 }) { return nil }
            let field = HeaderField(header: header, name: name, offset: headerOffset)
            let stored = try field.number(148, 8)
            var sum: UInt64 = 0
            for index in 0..<512 { sum += (148..<156).contains(index) ? 32 : UInt64(header[index]) }
            guard sum == stored else {
                throw failure("header checksum mismatch at byte \(headerOffset); not a tar archive?")
            }
            let type = header[156]
            var size = try field.number(124, 12)
            if let text = pax["size"] ?? globalPax["size"] {
                guard let paxSize = UInt64(text) else { throw failure("bad pax size '\(text)' at byte \(headerOffset)") }
                size = paxSize
            }
            let (padded, overflow) = size.addingReportingOverflow(511)
            guard !overflow else { throw failure("member size \(size) at byte \(headerOffset) is impossibly large") }
            remaining = size
            padding = padded / 512 * 512 - size
            switch type {
            case UInt8(ascii: "x"):
                pax = Self.parsePax(try readMetadata(size, at: headerOffset))
                continue
            case UInt8(ascii: "g"):
                globalPax.merge(Self.parsePax(try readMetadata(size, at: headerOffset))) { $1 }
                continue
            case UInt8(ascii: "L"):
                longName = String(decoding: try readMetadata(size, at: headerOffset).prefix { $0 != 0 }, as: UTF8.self)
                continue
            case UInt8(ascii: "K"):
                longLink = String(decoding: try readMetadata(size, at: headerOffset).prefix { $0 != 0 }, as: UTF8.self)
                continue
            default: break
            }
            let attributes = globalPax.merging(pax) { $1 }
            var rawName = field.text(0, 100)
            let prefix = field.text(345, 155)
            if field.text(257, 5) == "ustar", !prefix.isEmpty { rawName = prefix + "/" + rawName }
            rawName = attributes["path"] ?? longName ?? rawName
            let link = attributes["linkpath"] ?? longLink ?? field.text(157, 100)
            pax = [:]
            longName = nil
            longLink = nil
            let path = try Self.guestPath(rawName, archive: name)
            let mode = UInt32(try field.number(100, 8) & 0o7777)
            let uid = try attributes["uid"].flatMap { UInt32($0) } ?? UInt32(clamping: field.number(108, 8))
            let gid = try attributes["gid"].flatMap { UInt32($0) } ?? UInt32(clamping: field.number(116, 8))
            let major = UInt32(clamping: try field.number(329, 8))
            let minor = UInt32(clamping: try field.number(337, 8))
            let kind: TarMember.Kind
            switch type {
            case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): kind = rawName.hasSuffix("/") ? .directory : .file
            case UInt8(ascii: "1"): kind = .hardLink(try Self.guestPath(link, archive: name))
            case UInt8(ascii: "2"): kind = .symlink(link)
            case UInt8(ascii: "3"): kind = .characterDevice(major, minor)
            case UInt8(ascii: "4"): kind = .blockDevice(major, minor)
            case UInt8(ascii: "5"): kind = .directory
            case UInt8(ascii: "6"): kind = .fifo
            default:
                try skipContent()  // sockets, sparse and vendor members: not part of a rootfs
                continue
            }
            return TarMember(path: path, kind: kind, permissions: mode, uid: uid, gid: gid, size: kind == .file ? size : 0)
        }
    }

    /// Passes the current member's content to `body` in chunks, then skips its padding.
    public mutating func readContent(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let memberOffset = offset
        while remaining > 0 {
            try fill()
            guard end > start else {
                throw failure("truncated member: \(remaining) bytes of content missing after byte \(memberOffset)")
            }
            let count = Int(min(UInt64(end - start), remaining))
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<start + count])) }
            consume(count)
            remaining -= UInt64(count)
        }
        try skip(padding, what: "padding")
        padding = 0
    }

    /// Skips whatever is left of the current member.
    public mutating func skipContent() throws {
        try skip(remaining, what: "content")
        remaining = 0
        try skip(padding, what: "padding")
        padding = 0
    }

    // MARK: Bytes

    private mutating func fill() throws {
        guard start == end else { return }
        start = 0
        end = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
    }

    private mutating func consume(_ count: Int) {
        start += count
        offset += UInt64(count)
    }

    private mutating func skip(_ count: UInt64, what: String) throws {
        var left = count
        while left > 0 {
            try fill()
            guard end > start else { throw failure("truncated member: \(left) bytes of \(what) missing at byte \(offset)") }
            let step = Int(min(UInt64(end - start), left))
            consume(step)
            left -= UInt64(step)
        }
    }

    /// One 512-byte block, or nil at a clean end of input.
    private mutating func readBlock() throws -> [UInt8]? {
        var block: [UInt8] = []
        block.reserveCapacity(512)
        while block.count < 512 {
            try fill()
            guard end > start else {
                if block.isEmpty { return nil }
                throw failure("truncated header at byte \(offset)")
            }
            let count = min(end - start, 512 - block.count)
            block += buffer[start..<start + count]
            consume(count)
        }
        return block
    }

    /// The content of a pax or long-name member (bounded: it is held in memory).
    private mutating func readMetadata(_ size: UInt64, at headerOffset: UInt64) throws -> [UInt8] {
        guard size <= Self.metadataLimit else {
            throw failure("a \(size)-byte extended header at byte \(headerOffset) is larger than \(Self.metadataLimit) bytes")
        }
        var bytes: [UInt8] = []
        try readContent { bytes += $0 }
        return bytes
    }

    /// Pax records: "<length> <key>=<value>\n".
    static func parsePax(_ data: [UInt8]) -> [String: String] {
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

/// The fields of one header block.
private struct HeaderField {
    let header: [UInt8]
    let name: String
    let offset: UInt64

    func text(_ at: Int, _ length: Int) -> String {
        let field = header[at..<at + length]
        return String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// An octal or base-256 number; one that does not fit 64 bits is refused.
    func number(_ at: Int, _ length: Int) throws -> UInt64 {
        let first = header[at]
        if first & 0x80 != 0 {
            var value = UInt64(first & 0x7f)
            for index in 1..<length {
                guard value >> 56 == 0 else {
                    throw ComposeError.badBase(path: name, reason: "base-256 number in the header at byte \(offset) does not fit 64 bits")
                }
                value = value << 8 | UInt64(header[at + index])
            }
            return value
        }
        let digits = text(at, length).trimmingCharacters(in: CharacterSet(charactersIn: " \0"))
        if digits.isEmpty { return 0 }
        guard let value = UInt64(digits, radix: 8) else {
            throw ComposeError.badBase(path: name, reason: "bad number '\(digits)' in the header at byte \(offset)")
        }
        return value
    }
}

/// An archive in memory.
struct MemorySource: ByteSource {
    let bytes: [UInt8]
    var position = 0

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = min(buffer.count, bytes.count - position)
        bytes[position..<position + count].withUnsafeBytes { buffer.copyMemory(from: $0) }
        position += count
        return count
    }
}

/// An open file or pipe.
struct DescriptorSource: ByteSource {
    let fd: FileDescriptor
    let name: String

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        do { return try fd.read(into: buffer) } catch {
            throw ComposeError.badBase(path: name, reason: "read failed: \(error)")
        }
    }
}

/// A tar archive on disk, decompressed on the fly when it is gzip or zstd (by magic number) by the system
/// tool writing into a pipe.
struct TarFile {
    let path: String

    /// Calls `body` with a reader over the plain archive; a decompressor's failure is reported after it.
    func read<R>(_ body: (inout TarReader) throws -> R) throws -> R {
        let file: FileDescriptor
        do { file = try FileDescriptor.open(path, [.readOnly, .closeOnExec]) } catch {
            throw ComposeError.badBase(path: path, reason: "cannot open: \(error)")
        }
        var magic = [UInt8](repeating: 0, count: 4)
        let got = (try? magic.withUnsafeMutableBytes { try file.read(into: $0, at: 0) }) ?? 0
        let gzip = got >= 2 && magic.starts(with: [0x1f, 0x8b])
        let zstd = got >= 4 && magic.starts(with: [0x28, 0xb5, 0x2f, 0xfd])
        guard gzip || zstd else {
            defer { file.closeQuietly() }
            var reader = TarReader(source: DescriptorSource(fd: file, name: path), name: path)
            return try body(&reader)
        }
        file.closeQuietly()
        let tool = gzip ? "gzip" : "zstd"
        let pipe: GuestSys.Pipe
        do { pipe = try GuestSys.Pipe() } catch { throw ComposeError.badBase(path: path, reason: "pipe: \(error)") }
        var command = ChildCommand(tool, ["-dc", path] + (zstd ? ["-q"] : []))
        command.output = .descriptor(pipe.writeEnd)
        let errors = NSTemporaryDirectory() + "guestkit-\(tool)-\(getpid())-\(UUID().uuidString.prefix(8)).log"
        command.error = .file(errors, append: false)
        defer { try? FileManager.default.removeItem(atPath: errors) }
        let child: ChildProcess
        do { child = try ChildProcess(command) } catch {
            pipe.readEnd.closeQuietly()
            pipe.writeEnd.closeQuietly()
            throw ComposeError.toolFailed(tool: tool, arguments: command.arguments, status: 127, output: "\(error)")
        }
        pipe.writeEnd.closeQuietly()
        defer { pipe.readEnd.closeQuietly() }
        var reader = TarReader(source: DescriptorSource(fd: pipe.readEnd, name: path), name: path)
        let result: R
        do { result = try body(&reader) } catch {
            child.kill()
            throw error
        }
        // The archive's end blocks may come before the end of the stream (tar pads to a whole record):
        // read the rest, so the decompressor finishes instead of blocking on a full pipe.
        var sink = [UInt8](repeating: 0, count: 64 << 10)
        while ((try? sink.withUnsafeMutableBytes { try pipe.readEnd.read(into: $0) }) ?? 0) > 0 {}
        let status = child.wait()
        guard status == .exited(code: 0) else {
            let text = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
            throw ComposeError.toolFailed(tool: tool, arguments: command.arguments, status: status?.shellCode ?? 1, output: text)
        }
        return result
    }
}
