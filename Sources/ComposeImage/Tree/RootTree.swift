// The guest filesystem being assembled: a staging directory on the host holding file contents, directories
// and symlinks, plus a table of what each entry should be in the image (owner, mode, device numbers).
// The table is the truth: staging files belong to whoever runs the composer, and device nodes cannot be made
// without root, so each format writer applies owners, modes and nodes from the table in its own no-root way.
// Paths are resolved inside the tree (through the tree's own symlinks), never through the host's, so an
// absolute symlink in a base layer cannot make the composer write outside the staging directory.
import Foundation
import GuestSys

/// What kind of filesystem object an entry is.
public enum EntryKind: Sendable, Equatable {
    case directory
    case file
    case symlink(target: String)
    case characterDevice(major: UInt32, minor: UInt32)
    case blockDevice(major: UInt32, minor: UInt32)
    case fifo

    /// The S_IFMT bits for this kind (<sys/stat.h>).
    public var typeBits: UInt32 {
        switch self {
        case .directory: 0o040000
        case .file: 0o100000
        case .symlink: 0o120000
        case .characterDevice: 0o020000
        case .blockDevice: 0o060000
        case .fifo: 0o010000
        }
    }

    /// Whether the staging directory can hold it (device nodes and fifos live only in the table).
    var isStaged: Bool {
        switch self {
        case .directory, .file, .symlink: true
        default: false
        }
    }
}

/// One entry of the guest tree as it should appear in the image.
public struct TreeEntry: Sendable, Equatable {
    public var kind: EntryKind
    /// Permission bits including setuid/setgid/sticky (07777).
    public var permissions: UInt32
    public var uid: UInt32
    public var gid: UInt32

    public init(kind: EntryKind, permissions: UInt32, uid: UInt32 = 0, gid: UInt32 = 0) {
        self.kind = kind
        self.permissions = permissions & 0o7777
        self.uid = uid
        self.gid = gid
    }

    /// st_mode: type bits and permissions.
    public var mode: UInt32 { kind.typeBits | permissions }
}

/// The guest tree under construction: a staging directory and its entry table.
public final class RootTree {
    /// The host directory holding contents (the format tools read it).
    public let staging: String
    /// Every entry by absolute guest path ("/" is the root directory).
    public private(set) var entries: [String: TreeEntry] = [:]
    /// The largest file the image format can hold, with the format's name (an initramfs: below 4 GiB);
    /// a larger file is refused before it is copied.
    public var fileSizeLimit: (bytes: UInt64, format: String)?

    /// Creates an empty tree in a new staging directory at `staging` (which must not exist).
    public init(staging: String) throws {
        self.staging = staging
        do { try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false) } catch {
            throw ComposeError.io(operation: "create staging directory", path: staging, reason: "\(error.localizedDescription)")
        }
        entries["/"] = TreeEntry(kind: .directory, permissions: 0o755)
    }

    /// Removes the staging directory (making read-only directories writable first so non-root can delete them).
    public func discard() { Self.removeStaging(staging) }

    /// Removes a staging directory, making read-only directories writable first.
    static func removeStaging(_ staging: String) {
        if let walker = FileManager.default.enumerator(atPath: staging) {
            for case let relative as String in walker { makeRemovable(staging.joinedPath(relative)) }
        }
        chmod(staging, 0o700)
        try? FileManager.default.removeItem(atPath: staging)
    }

    /// Makes a staged directory writable so non-root can delete what is in it. Only a real directory: a
    /// staged symlink's target is whatever the input said, and chmod would follow it to the host's own
    /// directory (a layer with `bin -> /usr/bin` replaced by a file made /usr/bin 0700).
    static func makeRemovable(_ stagedPath: String) {
        var info = stat()
        if lstat(stagedPath, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { chmod(stagedPath, 0o700) }
    }

    /// The staging path of a canonical guest path.
    public func stagingPath(_ guestPath: String) -> String { guestPath == "/" ? staging : staging.joinedPath(guestPath) }

    /// Guest paths sorted so each directory comes before its contents, siblings by byte order.
    public var sortedPaths: [String] {
        entries.keys.sorted { lhs, rhs in
            if lhs == "/" { return rhs != "/" }
            if rhs == "/" { return false }
            return Array(lhs.utf8).lexicographicallyPrecedes(Array(rhs.utf8)) { a, b in
                // '/' sorts before every other byte so "a/b" precedes "a-b" and children follow their parent.
                (a == 0x2f ? 0 : Int(a) + 1) < (b == 0x2f ? 0 : Int(b) + 1)
            }
        }
    }

    /// Bytes of file content in the tree.
    public var contentBytes: UInt64 {
        entries.reduce(UInt64(0)) { sum, item in
            guard item.value.kind == .file else { return sum }
            return sum + fileSize(item.key)
        }
    }

    /// The size of a staged regular file.
    public func fileSize(_ guestPath: String) -> UInt64 {
        var info = stat()
        return lstat(stagingPath(guestPath), &info) == 0 ? UInt64(info.st_size) : 0
    }

    // MARK: Adding and removing

    /// Adds (or updates) a directory; parents are created 0755 root-owned as needed.
    public func addDirectory(_ path: String, permissions: UInt32 = 0o755, uid: UInt32 = 0, gid: UInt32 = 0) throws {
        let canonical = try resolve(path, followFinal: true)
        if let existing = entries[canonical], existing.kind == .directory {
            entries[canonical] = TreeEntry(kind: .directory, permissions: permissions, uid: uid, gid: gid)
            return
        }
        try removeExisting(canonical)
        try createStagedDirectory(canonical)
        entries[canonical] = TreeEntry(kind: .directory, permissions: permissions, uid: uid, gid: gid)
    }

    /// Adds a regular file copied from a host file (its symlinks followed).
    public func addFile(_ path: String, copying hostPath: String, permissions: UInt32, uid: UInt32 = 0, gid: UInt32 = 0) throws {
        let canonical = try resolve(path, followFinal: false)
        try removeExisting(canonical)
        let target = stagingPath(canonical)
        let source = hostPath.realPath
        var info = stat()
        if stat(source, &info) == 0 { try checkSize(UInt64(info.st_size), of: hostPath) }
        do { try FileManager.default.copyItem(atPath: source, toPath: target) } catch {
            throw ComposeError.io(operation: "copy \(hostPath) to", path: canonical, reason: error.localizedDescription)
        }
        chmod(target, 0o644)
        entries[canonical] = TreeEntry(kind: .file, permissions: permissions, uid: uid, gid: gid)
    }

    /// Adds a regular file with the given bytes.
    public func addFile(_ path: String, contents: Data, permissions: UInt32, uid: UInt32 = 0, gid: UInt32 = 0) throws {
        let canonical = try resolve(path, followFinal: false)
        try removeExisting(canonical)
        do { try contents.write(to: URL(fileURLWithPath: stagingPath(canonical))) } catch {
            throw ComposeError.io(operation: "write", path: stagingPath(canonical), reason: error.localizedDescription)
        }
        entries[canonical] = TreeEntry(kind: .file, permissions: permissions, uid: uid, gid: gid)
    }

    /// Refuses a file the image format cannot hold.
    public func checkSize(_ size: UInt64, of what: String) throws {
        guard let limit = fileSizeLimit, size > limit.bytes else { return }
        throw ComposeError.badOption("\(what) is \(size) bytes; \(limit.format) holds files of at most \(limit.bytes) bytes: "
            + "leave it out, or use --format ext4 or erofs")
    }

    /// Adds a regular file whose bytes `write` produces into the staged file (streamed, never held whole).
    public func addFile(_ path: String, permissions: UInt32, uid: UInt32 = 0, gid: UInt32 = 0,
                        writing write: (FileDescriptor) throws -> Void) throws {
        let canonical = try resolve(path, followFinal: false)
        try removeExisting(canonical)
        let target = stagingPath(canonical)
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(target, [.writeOnly, .create, .truncate, .closeOnExec], mode: 0o644) } catch {
            throw ComposeError.io(operation: "create", path: target, reason: "\(error)")
        }
        defer { fd.closeQuietly() }
        entries[canonical] = TreeEntry(kind: .file, permissions: permissions, uid: uid, gid: gid)
        try write(fd)
    }

    /// Adds a symbolic link (its target is stored as given, never followed on the host).
    public func addSymlink(_ path: String, target: String, uid: UInt32 = 0, gid: UInt32 = 0) throws {
        let canonical = try resolve(path, followFinal: false)
        try removeExisting(canonical)
        do { try FileManager.default.createSymbolicLink(atPath: stagingPath(canonical), withDestinationPath: target) } catch {
            throw ComposeError.io(operation: "create symlink", path: canonical, reason: error.localizedDescription)
        }
        entries[canonical] = TreeEntry(kind: .symlink(target: target), permissions: 0o777, uid: uid, gid: gid)
    }

    /// Adds a device node or fifo (recorded in the table; each format writer creates it its own way).
    public func addNode(_ path: String, kind: EntryKind, permissions: UInt32, uid: UInt32 = 0, gid: UInt32 = 0) throws {
        let canonical = try resolve(path, followFinal: false)
        try removeExisting(canonical)
        entries[canonical] = TreeEntry(kind: kind, permissions: permissions, uid: uid, gid: gid)
    }

    /// Changes owner and permissions of an existing entry.
    public func setAttributes(_ path: String, permissions: UInt32?, uid: UInt32?, gid: UInt32?) throws {
        let canonical = try resolve(path, followFinal: false)
        guard var entry = entries[canonical] else {
            throw ComposeError.io(operation: "set attributes of", path: path, reason: "no such entry in the image")
        }
        if let permissions { entry.permissions = permissions & 0o7777 }
        if let uid { entry.uid = uid }
        if let gid { entry.gid = gid }
        entries[canonical] = entry
    }

    /// Removes an entry and everything below it (an OCI whiteout). Missing entries are fine.
    public func remove(_ path: String) throws {
        guard let canonical = try? resolve(path, followFinal: false, createParents: false) else { return }
        try removeExisting(canonical)
    }

    /// Removes an entry and everything below it except the entries in `keep` and the directories leading
    /// to them (a whiteout in a layer that may already have added some of them itself).
    public func remove(_ path: String, keeping keep: Set<String>) throws {
        guard let canonical = try? resolve(path, followFinal: false, createParents: false), canonical != "/",
              entries[canonical] != nil else { return }
        let prefix = canonical + "/"
        let doomed = entries.keys.filter { key in
            guard key == canonical || key.hasPrefix(prefix), !keep.contains(key) else { return false }
            let inside = key + "/"
            return !keep.contains { $0.hasPrefix(inside) }
        }
        for key in doomed.sorted(by: { $0.count > $1.count }) {
            guard let entry = entries.removeValue(forKey: key) else { continue }
            if entry.kind.isStaged {
                let target = stagingPath(key)
                Self.makeRemovable(target)
                try? FileManager.default.removeItem(atPath: target)
            }
        }
    }

    /// The children's paths of a directory entry.
    public func children(of path: String) -> [String] {
        guard let canonical = try? resolve(path, followFinal: true, createParents: false),
              entries[canonical]?.kind == .directory else { return [] }
        let prefix = canonical == "/" ? "/" : canonical + "/"
        return entries.keys.filter { $0.hasPrefix(prefix) && $0 != canonical && !$0.dropFirst(prefix.count).contains("/") }
    }

    /// Removes everything below a directory, keeping the directory (an OCI opaque whiteout).
    public func removeChildren(of path: String) throws {
        guard let canonical = try? resolve(path, followFinal: true, createParents: false),
              entries[canonical]?.kind == .directory else { return }
        for child in entries.keys where child.hasPrefix(canonical == "/" ? "/" : canonical + "/") && child != canonical {
            entries[child] = nil
        }
        let dir = stagingPath(canonical)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
            try? FileManager.default.removeItem(atPath: dir.joinedPath(name))
        }
    }

    /// The kind of the entry at `path` after resolving its parent directories, if any.
    public func entry(at path: String) -> TreeEntry? {
        guard let canonical = try? resolve(path, followFinal: false, createParents: false) else { return nil }
        return entries[canonical]
    }

    /// Resolves `path` to the canonical guest path (parents resolved through the tree's symlinks).
    public func canonicalPath(_ path: String, followFinal: Bool = false) throws -> String {
        try resolve(path, followFinal: followFinal, createParents: false)
    }

    // MARK: Staging

    /// Writes the table's permissions onto the staged files and directories (deepest first, so a read-only
    /// directory is restricted after its contents), and owners too when `chown` is set (root only).
    public func applyAttributesToStaging(chown: Bool) throws {
        for path in sortedPaths.reversed() {
            guard let entry = entries[path], entry.kind.isStaged else { continue }
            let target = stagingPath(path)
            if chown, lchown(target, entry.uid, entry.gid) != 0 {
                throw ComposeError.io(operation: "chown \(entry.uid):\(entry.gid)", path: target, reason: String(cString: strerror(errno)))
            }
            if case .symlink = entry.kind { continue }
            if chmod(target, mode_t(entry.permissions)) != 0 {
                throw ComposeError.io(operation: "chmod", path: target, reason: String(cString: strerror(errno)))
            }
        }
    }

    /// Creates device nodes and fifos in the staging directory (root only; used for erofs).
    public func stageNodes() throws {
        for path in sortedPaths {
            guard let entry = entries[path] else { continue }
            let device: dev_t
            switch entry.kind {
            case let .characterDevice(major, minor), let .blockDevice(major, minor): device = dev_t(DeviceNumber.make(major: major, minor: minor))
            case .fifo: device = 0
            default: continue
            }
            if mknod(stagingPath(path), mode_t(entry.mode), device) != 0 {
                throw ComposeError.io(operation: "mknod", path: stagingPath(path), reason: String(cString: strerror(errno)))
            }
            // mknod applies the umask; the table's permissions are exact.
            if chmod(stagingPath(path), mode_t(entry.permissions)) != 0 {
                throw ComposeError.io(operation: "chmod", path: stagingPath(path), reason: String(cString: strerror(errno)))
            }
        }
    }

    // MARK: Resolution

    private func resolve(_ path: String, followFinal: Bool, createParents: Bool = true) throws -> String {
        var hops = 0
        return try resolve(path, followFinal: followFinal, createParents: createParents, hops: &hops)
    }

    private func resolve(_ path: String, followFinal: Bool, createParents: Bool, hops: inout Int) throws -> String {
        guard path.hasPrefix("/") else {
            throw ComposeError.badOption("guest path \(path) must be absolute")
        }
        let parts = path.split(separator: "/").filter { $0 != "." }
        var current = "/"
        for (index, part) in parts.enumerated() {
            if part == ".." {
                current = (current as NSString).deletingLastPathComponent
                if current.isEmpty { current = "/" }
                continue
            }
            let next = current.joinedPath(String(part))
            let isFinal = index == parts.count - 1
            guard let entry = entries[next] else {
                if !isFinal {
                    guard createParents else { throw ComposeError.io(operation: "resolve", path: path, reason: "no such directory \(next)") }
                    try createStagedDirectory(next)
                    entries[next] = TreeEntry(kind: .directory, permissions: 0o755)
                }
                current = next
                continue
            }
            switch entry.kind {
            case .directory:
                current = next
            case let .symlink(target) where !isFinal || followFinal:
                hops += 1
                guard hops <= 40 else { throw ComposeError.io(operation: "resolve", path: path, reason: "too many levels of symbolic links") }
                let absolute = target.hasPrefix("/") ? target : current.joinedPath(target)
                current = try resolve(absolute, followFinal: true, createParents: createParents, hops: &hops)
            default:
                if !isFinal { throw ComposeError.io(operation: "resolve", path: path, reason: "\(next) is not a directory") }
                current = next
            }
        }
        return current
    }

    private func createStagedDirectory(_ canonical: String) throws {
        do { try FileManager.default.createDirectory(atPath: stagingPath(canonical), withIntermediateDirectories: false) } catch {
            throw ComposeError.io(operation: "create directory", path: stagingPath(canonical), reason: error.localizedDescription)
        }
    }

    private func removeExisting(_ canonical: String) throws {
        guard canonical != "/", let existing = entries[canonical] else { return }
        if existing.kind == .directory {
            let prefix = canonical + "/"
            for key in entries.keys where key.hasPrefix(prefix) { entries[key] = nil }
        }
        entries[canonical] = nil
        if existing.kind.isStaged {
            let target = stagingPath(canonical)
            Self.makeRemovable(target)
            do { try FileManager.default.removeItem(atPath: target) } catch {
                throw ComposeError.io(operation: "replace", path: canonical, reason: error.localizedDescription)
            }
        }
    }
}

/// glibc's dev_t encoding (<sys/sysmacros.h>: gnu_dev_makedev, gnu_dev_major, gnu_dev_minor are macros Swift cannot import).
enum DeviceNumber {
    static func make(major: UInt32, minor: UInt32) -> UInt64 {
        let major = UInt64(major), minor = UInt64(minor)
        return (minor & 0xff) | (major & 0xfff) << 8 | (minor & ~0xff) << 12 | (major & ~0xfff) << 32
    }

    static func split(_ device: UInt64) -> (major: UInt32, minor: UInt32) {
        let major = (device >> 8) & 0xfff | (device >> 32) & ~0xfff
        let minor = device & 0xff | (device >> 12) & ~0xff
        return (UInt32(truncatingIfNeeded: major), UInt32(truncatingIfNeeded: minor))
    }
}
