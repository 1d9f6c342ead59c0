// A base root filesystem under the guest's own files: a directory, a tar archive, or an OCI image layout
// (image-spec: index.json → manifest → layers applied in order). Layer whiteouts follow image-spec's
// layer.md: `.wh.NAME` deletes NAME from the layers below, `.wh..wh..opq` empties its directory of the layers
// below; both are applied before the layer's own members, so a layer can replace what it whites out.
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
        let archive = try TarArchive(path: path, scratch: scratch)
        return try Self.apply(archive, to: tree, whiteouts: false)
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

    // MARK: Tar and OCI layers

    /// Applies one archive. With `whiteouts`, `.wh.` members delete from what is already in the tree.
    static func apply(_ archive: TarArchive, to tree: RootTree, whiteouts: Bool) throws -> [String] {
        var warnings: [String] = []
        if whiteouts {
            for member in archive.members {
                let name = (member.path as NSString).lastPathComponent
                let parent = (member.path as NSString).deletingLastPathComponent
                if name == ".wh..wh..opq" {
                    try tree.removeChildren(of: parent)
                } else if name.hasPrefix(".wh.") {
                    try tree.remove(parent.joinedPath(String(name.dropFirst(4))))
                }
            }
        }
        for member in archive.members {
            let name = (member.path as NSString).lastPathComponent
            if whiteouts, name.hasPrefix(".wh.") { continue }
            if member.path == "/" {
                try tree.addDirectory("/", permissions: member.permissions, uid: member.uid, gid: member.gid)
                continue
            }
            switch member.kind {
            case .directory:
                try tree.addDirectory(member.path, permissions: member.permissions, uid: member.uid, gid: member.gid)
            case .file:
                try tree.addFile(member.path, contents: archive.data.subdata(in: member.contentRange),
                                 permissions: member.permissions, uid: member.uid, gid: member.gid)
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
        }
        return warnings
    }

    /// image-spec descriptors, as far as a layout needs them.
    struct Descriptor: Decodable {
        let mediaType: String?
        let digest: String
        let platform: Platform?
        struct Platform: Decodable {
            let architecture: String?
            let os: String?
        }
    }
    struct Index: Decodable { let manifests: [Descriptor] }
    struct Manifest: Decodable {
        let mediaType: String?
        let layers: [Descriptor]?
        let manifests: [Descriptor]?
    }

    func blobPath(_ digest: String) throws -> String {
        let parts = digest.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, !parts[1].contains("/") else {
            throw ComposeError.badBase(path: path, reason: "bad digest \(digest)")
        }
        let blob = path.joinedPath("blobs/\(parts[0])/\(parts[1])")
        guard FileManager.default.isReadableFile(atPath: blob) else {
            throw ComposeError.badBase(path: path, reason: "blob \(digest) is missing (blobs/\(parts[0])/\(parts[1]))")
        }
        return blob
    }

    func decode<T: Decodable>(_ type: T.Type, at file: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ComposeError.badBase(path: path, reason: "cannot read \(file)")
        }
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw ComposeError.badBase(path: path, reason: "\(file) is not valid image-spec JSON: \(error)")
        }
    }

    /// Picks the linux/amd64 manifest (or the only one), following nested indexes.
    func manifest(from descriptors: [Descriptor], depth: Int = 0) throws -> Manifest {
        guard depth < 4 else { throw ComposeError.badBase(path: path, reason: "indexes nested too deeply") }
        let candidates = descriptors.filter { $0.platform == nil || ($0.platform?.os == "linux" && $0.platform?.architecture == "amd64") }
        guard let chosen = candidates.first ?? descriptors.first else {
            throw ComposeError.badBase(path: path, reason: "index.json lists no manifests")
        }
        let manifest = try decode(Manifest.self, at: try blobPath(chosen.digest))
        if let nested = manifest.manifests { return try self.manifest(from: nested, depth: depth + 1) }
        return manifest
    }

    func applyOCILayout(to tree: RootTree, scratch: String) throws -> [String] {
        let index = try decode(Index.self, at: path.joinedPath("index.json"))
        let manifest = try manifest(from: index.manifests)
        guard let layers = manifest.layers else { throw ComposeError.badBase(path: path, reason: "the manifest has no layers") }
        var warnings: [String] = []
        for layer in layers {
            let archive = try TarArchive(path: try blobPath(layer.digest), scratch: scratch)
            warnings += try Self.apply(archive, to: tree, whiteouts: true)
        }
        return warnings
    }
}
