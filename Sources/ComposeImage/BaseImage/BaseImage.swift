// A base root filesystem under the guest's own files: a directory, a tar archive, or an OCI image layout
// (image-spec: index.json → manifest → layers applied in order, OCILayout.swift). Layer whiteouts follow
// image-spec's layer.md: `.wh.NAME` deletes NAME from the layers below, `.wh..wh..opq` empties its
// directory of the layers below. A layer is read once, as a stream, so a whiteout spares what the same
// layer has already added: it acts on the layers below only, wherever it sits in the archive.
// Owners: tar and OCI members keep the owners their headers give. A directory keeps its owners when the
// composer runs as root; otherwise files owned by the invoking user become root's (that user staged them).
import Foundation

/// A base applied to the tree before the guest's own files.
public struct BaseImage {
    public let path: String

    public init(path: String) { self.path = path }

    /// Applies the base; returns warnings.
    public func apply(to tree: RootTree, scratch: String) throws -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ComposeError.unreadableInput(role: "--base", path: path, reason: "no such file or directory")
        }
        if isDir.boolValue {
            if FileManager.default.fileExists(atPath: path.joinedPath("index.json")),
               FileManager.default.fileExists(atPath: path.joinedPath("oci-layout")) {
                return try applyOCILayout(to: tree, scratch: scratch)
            }
            try applyDirectory(to: tree)
            return []
        }
        return try Self.apply(TarFile(path: path), to: tree, whiteouts: false)
    }

    // MARK: Directory

    func applyDirectory(to tree: RootTree) throws {
        let me = getuid()
        func walk(_ host: String, _ guest: String) throws {
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: host).sorted() } catch {
                throw ComposeError.badBase(path: host, reason: "cannot list: \(error.localizedDescription)")
            }
            for name in names {
                let hostPath = host.joinedPath(name)
                let guestPath = guest.joinedPath(name)
                var info = stat()
                guard lstat(hostPath, &info) == 0 else {
                    throw ComposeError.badBase(path: hostPath, reason: String(cString: strerror(errno)))
                }
                let mapped = { (id: UInt32) -> UInt32 in me != 0 && id == me ? 0 : id }
                let uid = mapped(info.st_uid)
                let gid = me != 0 && info.st_gid == getgid() ? 0 : info.st_gid
                let permissions = UInt32(info.st_mode) & 0o7777
                switch info.st_mode & S_IFMT {
                case S_IFDIR:
                    try tree.addDirectory(guestPath, permissions: permissions, uid: uid, gid: gid)
                    try walk(hostPath, guestPath)
                case S_IFREG:
                    try tree.addFile(guestPath, copying: hostPath, permissions: permissions, uid: uid, gid: gid)
                case S_IFLNK:
                    let target = try FileManager.default.destinationOfSymbolicLink(atPath: hostPath)
                    try tree.addSymlink(guestPath, target: target, uid: uid, gid: gid)
                case S_IFCHR, S_IFBLK:
                    let (major, minor) = DeviceNumber.split(UInt64(info.st_rdev))
                    let kind: EntryKind = info.st_mode & S_IFMT == S_IFCHR ? .characterDevice(major: major, minor: minor)
                        : .blockDevice(major: major, minor: minor)
                    try tree.addNode(guestPath, kind: kind, permissions: permissions, uid: uid, gid: gid)
                case S_IFIFO:
                    try tree.addNode(guestPath, kind: .fifo, permissions: permissions, uid: uid, gid: gid)
                default:
                    continue  // sockets do not belong in an image
                }
            }
        }
        try walk(path, "/")
    }

    // MARK: Tar layers

    /// Applies one archive, streaming. With `whiteouts`, `.wh.` members delete from the layers below.
    static func apply(_ archive: TarFile, to tree: RootTree, whiteouts: Bool) throws -> [String] {
        try archive.read { reader in try apply(&reader, to: tree, whiteouts: whiteouts) }
    }

    static func apply(_ reader: inout TarReader, to tree: RootTree, whiteouts: Bool) throws -> [String] {
        var warnings: [String] = []
        var added: Set<String> = []
        while let member = try reader.next() {
            let name = (member.path as NSString).lastPathComponent
            let parent = (member.path as NSString).deletingLastPathComponent
            if whiteouts, name == ".wh..wh..opq" {
                for child in tree.children(of: parent) { try tree.remove(child, keeping: added) }
                continue
            }
            if whiteouts, name.hasPrefix(".wh.") {
                try tree.remove(parent.joinedPath(String(name.dropFirst(4))), keeping: added)
                continue
            }
            if member.path == "/" {
                try tree.addDirectory("/", permissions: member.permissions, uid: member.uid, gid: member.gid)
                continue
            }
            switch member.kind {
            case .directory:
                try tree.addDirectory(member.path, permissions: member.permissions, uid: member.uid, gid: member.gid)
            case .file:
                let archiveName = reader.name
                try tree.checkSize(member.size, of: "\(archiveName) member \(member.path)")
                try tree.addFile(member.path, permissions: member.permissions, uid: member.uid, gid: member.gid) { fd in
                    try reader.readContent { chunk in
                        do { try fd.writeAll(chunk) } catch {
                            throw ComposeError.io(operation: "write \(member.path) of", path: archiveName, reason: "\(error)")
                        }
                    }
                }
            case let .hardLink(target):
                // Hard links become copies: each format would need its own link bookkeeping for little gain.
                guard let source = try? tree.canonicalPath(target), tree.entries[source]?.kind == .file else {
                    warnings.append("base: hard link \(member.path) → \(target) skipped (target not a file in the image)")
                    continue
                }
                try tree.addFile(member.path, copying: tree.stagingPath(source), permissions: member.permissions,
                                 uid: member.uid, gid: member.gid)
            case let .symlink(target):
                try tree.addSymlink(member.path, target: target, uid: member.uid, gid: member.gid)
            case let .characterDevice(major, minor):
                try tree.addNode(member.path, kind: .characterDevice(major: major, minor: minor),
                                 permissions: member.permissions, uid: member.uid, gid: member.gid)
            case let .blockDevice(major, minor):
                try tree.addNode(member.path, kind: .blockDevice(major: major, minor: minor),
                                 permissions: member.permissions, uid: member.uid, gid: member.gid)
            case .fifo:
                try tree.addNode(member.path, kind: .fifo, permissions: member.permissions, uid: member.uid, gid: member.gid)
            }
            if let canonical = try? tree.canonicalPath(member.path) { added.insert(canonical) }
        }
        return warnings
    }
}
