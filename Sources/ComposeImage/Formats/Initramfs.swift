// An initramfs as the kernel unpacks it (Documentation/driver-api/early-userspace/buffer-format.rst): a "newc"
// cpio archive, optionally compressed. Every member is a 110-byte ASCII header — magic "070701", then thirteen
// 8-digit hex fields: ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor,
// namesize (with the NUL), check (0) — the name and NUL padded to 4 bytes, the data padded to 4 bytes. The
// archive ends with the member "TRAILER!!!". Written directly from the tree's table, so owners, modes and
// device nodes need no root. Hard links share an ino with nlink > 1; the data travels with the last of them
// (GNU cpio's convention; the kernel accepts it on any). Every field is 32 bits: a file of 4 GiB or more,
// or a longer name, cannot be stored, and is refused with its name before anything is written.
import Foundation

/// Writes a newc cpio archive of a tree, then compresses it.
public struct Initramfs: Sendable {
    public enum Compression: String, Sendable, CaseIterable { case none, gzip, zstd }

    /// newc's filesize field is 8 hex digits.
    public static let maximumFileSize = UInt64(UInt32.max)

    public var compression: Compression
    public var epoch: Int64
    /// Extra names for existing files, written as hard links: alias path → canonical path in the tree.
    public var hardLinks: [String: String]

    public init(compression: Compression = .gzip, epoch: Int64, hardLinks: [String: String] = [:]) {
        self.compression = compression
        self.epoch = epoch
        self.hardLinks = hardLinks
    }

    private struct Member {
        let name: String
        let entry: TreeEntry
        let source: String?
        let ino: UInt32
        var nlink: UInt32
        var carriesData: Bool
    }

    /// Writes the (compressed) archive to `path`.
    public func write(tree: RootTree, to path: String) throws {
        let raw = compression == .none ? path : path + ".cpio"
        defer { if raw != path { try? FileManager.default.removeItem(atPath: raw) } }
        try writeArchive(tree: tree, to: raw)
        switch compression {
        case .none: break
        // -n: no name or timestamp in the gzip header, so the output depends only on the input.
        case .gzip: try ImageTool.run("gzip", ["-n", "-6", "-c", raw], stdoutFile: path)
        // zstd's default level: higher ones cost seconds for a few percent; the kernel ignores the checksum.
        case .zstd: try ImageTool.run("zstd", ["-q", "-3", "-T0", "--no-check", "-c", raw], stdoutFile: path)
        }
    }

    /// Writes the uncompressed newc archive.
    public func writeArchive(tree: RootTree, to path: String) throws {
        var names = tree.sortedPaths.filter { $0 != "/" }
        // An alias over an entry of the tree would replace it without a word (its content dropped).
        for (alias, canonical) in hardLinks.sorted(by: { $0.key < $1.key }) where tree.entries[alias] != nil && alias != canonical {
            throw ComposeError.badOption("\(alias) is in the image and would also be a hard link to \(canonical): "
                + "remove \(alias) from what goes into the initramfs (--base, --add), or use --format ext4 or erofs")
        }
        for alias in hardLinks.keys where tree.entries[alias] == nil { names.append(alias) }
        names.sort { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }

        var inodeOf: [String: UInt32] = [:]
        var members: [Member] = []
        var next: UInt32 = 1
        let linkGroups = Dictionary(grouping: hardLinks.keys, by: { hardLinks[$0]! })
        for name in names {
            let canonical = hardLinks[name] ?? name
            guard let entry = tree.entries[canonical] else {
                throw ComposeError.io(operation: "hard link", path: name, reason: "\(canonical) is not in the image")
            }
            let ino: UInt32
            if let known = inodeOf[canonical] { ino = known } else { ino = next; next += 1; inodeOf[canonical] = ino }
            let links = UInt32(1 + (linkGroups[canonical]?.count ?? 0))
            let source: String? = entry.kind == .file ? tree.stagingPath(canonical) : nil
            members.append(Member(name: name, entry: entry, source: source, ino: ino,
                                  nlink: entry.kind == .directory ? 2 : (entry.kind == .file ? links : 1), carriesData: true))
        }
        // Only the last member of each hard-link group carries the data.
        var lastIndex: [UInt32: Int] = [:]
        for (index, member) in members.enumerated() where member.nlink > 1 && member.entry.kind == .file { lastIndex[member.ino] = index }
        for index in members.indices where members[index].nlink > 1 && members[index].entry.kind == .file {
            members[index].carriesData = lastIndex[members[index].ino] == index
        }

        for member in members where member.carriesData && member.entry.kind == .file {
            let size = member.source.map { Self.fileSize($0) } ?? 0
            guard size <= Self.maximumFileSize else {
                throw ComposeError.badOption("\(member.name) is \(ByteCount.format(size)); a newc cpio member holds less than 4 GiB: "
                    + "leave it out of the initramfs or use --format ext4 or erofs")
            }
        }
        if let long = members.first(where: { $0.name.utf8.count >= Int(UInt32.max) }) {
            throw ComposeError.badOption("\(long.name.prefix(64))…: name too long for a cpio header")
        }
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        guard let out = FileHandle(forWritingAtPath: path) else {
            throw ComposeError.io(operation: "create", path: path, reason: "cannot open for writing")
        }
        defer { try? out.close() }
        var written: UInt64 = 0
        func emit(_ data: Data) throws {
            try out.write(contentsOf: data)
            written += UInt64(data.count)
        }
        func pad() throws {
            let rest = Int((4 - written % 4) % 4)
            if rest > 0 { try emit(Data(count: rest)) }
        }
        for member in members {
            var body = Data()
            var fileSize: UInt64 = 0
            var rdev: (UInt32, UInt32) = (0, 0)
            switch member.entry.kind {
            case .file where member.carriesData:
                fileSize = member.source.map { Self.fileSize($0) } ?? 0
            case let .symlink(target): body = Data(target.utf8)
            case let .characterDevice(major, minor), let .blockDevice(major, minor): rdev = (major, minor)
            default: break
            }
            if !body.isEmpty { fileSize = UInt64(body.count) }
            let name = String(member.name.dropFirst())  // archive names are relative: "etc/passwd"
            try emit(Self.header(ino: member.ino, mode: member.entry.mode, uid: member.entry.uid, gid: member.entry.gid,
                                 nlink: member.nlink, mtime: UInt32(clamping: epoch), fileSize: UInt32(clamping: fileSize),
                                 rdev: rdev, nameSize: UInt32(clamping: name.utf8.count + 1)))
            try emit(Data(name.utf8) + Data([0]))
            try pad()
            if !body.isEmpty {
                try emit(body)
                try pad()
            } else if fileSize > 0, let source = member.source {
                // Streamed in chunks: a large file never sits in memory whole.
                guard let input = FileHandle(forReadingAtPath: source) else {
                    throw ComposeError.io(operation: "read staged file", path: source, reason: "unreadable")
                }
                defer { try? input.close() }
                var copied: UInt64 = 0
                while copied < fileSize, let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
                    let piece = chunk.prefix(Int(min(UInt64(chunk.count), fileSize - copied)))
                    try emit(piece)
                    copied += UInt64(piece.count)
                }
                guard copied == fileSize else {
                    throw ComposeError.io(operation: "read staged file", path: source, reason: "it shrank while being written")
                }
                try pad()
            }
        }
        try emit(Self.header(ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, fileSize: 0, rdev: (0, 0),
                             nameSize: UInt32("TRAILER!!!".utf8.count + 1)))
        try emit(Data("TRAILER!!!".utf8) + Data([0]))
        try pad()
        // Pad the archive to 512 bytes as cpio does (the kernel skips trailing zeros).
        let tail = Int((512 - written % 512) % 512)
        if tail > 0 { try emit(Data(count: tail)) }
    }

    static func fileSize(_ path: String) -> UInt64 {
        var info = stat()
        return stat(path, &info) == 0 ? UInt64(info.st_size) : 0
    }

    static func header(ino: UInt32, mode: UInt32, uid: UInt32, gid: UInt32, nlink: UInt32, mtime: UInt32,
                       fileSize: UInt32, rdev: (UInt32, UInt32), nameSize: UInt32) -> Data {
        let fields: [UInt32] = [ino, mode, uid, gid, nlink, mtime, fileSize, 0, 0, rdev.0, rdev.1, nameSize, 0]
        let hex = fields.map { value -> String in
            let digits = String(value, radix: 16, uppercase: false)
            return String(repeating: "0", count: 8 - digits.count) + digits
        }
        return Data(("070701" + hex.joined()).utf8)
    }
}
