// ext4 without root or loop mounts: `mke2fs -d` copies the staging directory, then one `debugfs -w` script
// sets every inode's owner, mode and times from the tree's table and creates the device nodes (mke2fs takes
// owners and ctime from the staging files' stat, which belong to whoever ran the composer and to the clock).
// Reproducibility: fixed UUID and hash seed (-U, -E hash_seed), E2FSPROGS_FAKE_TIME for the superblock and
// the inodes mke2fs creates itself, and every inode's four timestamps set to the build epoch.
import Foundation

/// Writes an ext4 image of a tree.
public struct Ext4Image: Sendable {
    public static let blockSize: UInt64 = 4096
    public static let inodeSize: UInt64 = 256

    public var label: String = "guestroot"
    public var journal: Bool = false
    public var uuid: UUID
    public var epoch: Int64

    public init(uuid: UUID, epoch: Int64, label: String = "guestroot", journal: Bool = false) {
        self.uuid = uuid
        self.epoch = epoch
        self.label = label
        self.journal = journal
    }

    /// The inode count given to mke2fs: every entry plus the reserved inodes and room to grow.
    public static func inodeCount(for tree: RootTree) -> UInt64 { UInt64(tree.entries.count) + 64 }

    /// The smallest size that holds the tree: data blocks, directory blocks, inode table, metadata slack.
    public static func minimumSize(for tree: RootTree) -> UInt64 {
        var blocks: UInt64 = 0
        // Each directory's entries: "." and ".." (12 bytes each) and one record of 8 bytes plus the name,
        // rounded to 4, per child. mke2fs fills linear directory blocks in order.
        var directoryBytes: [String: UInt64] = [:]
        for (path, entry) in tree.entries {
            if case .directory = entry.kind { directoryBytes[path, default: 0] += 24 }
            guard path != "/" else { continue }
            let slash = path.lastIndex(of: "/")!
            let parent = slash == path.startIndex ? "/" : String(path[..<slash])
            let name = UInt64(path.utf8.count - path.utf8.distance(from: path.startIndex, to: slash) - 1)
            directoryBytes[parent, default: 24] += (8 + name + 3) & ~3
            switch entry.kind {
            case .file:
                let size = tree.fileSize(path)
                blocks += (size + blockSize - 1) / blockSize
                blocks += size > 4 * 128 * 1024 * 1024 ? size / (340 * 128 * 1024 * 1024) + 1 : 0  // extent index blocks
            case let .symlink(target) where target.utf8.count >= 60: blocks += 1
            default: break
            }
        }
        // A record never straddles blocks: allow an eighth of each block for the tail that does not fit.
        for bytes in directoryBytes.values { blocks += max(1, (bytes + bytes / 8 + blockSize - 1) / blockSize) }
        let inodeTable = inodeCount(for: tree) * inodeSize
        // Superblock, group descriptors, bitmaps, lost+found, root: about 64 KiB per 128 MiB group plus fixed 256 KiB.
        let metadata: UInt64 = 256 * 1024 + (blocks * blockSize / (128 << 20) + 1) * 65536
        return blocks * blockSize + ByteCount.roundUp(inodeTable, to: blockSize) + metadata
    }

    /// The default size for a tree of `minimum` bytes (`minimumSize`): plus 2% and 512 KiB, rounded up to 1 MiB. The guest mounts its root
    /// read-only (writes go to a tmpfs overlay), so free space in the image is only bytes every guest maps.
    public static func automaticSize(minimum: UInt64) -> UInt64 {
        return ByteCount.roundUp(minimum + minimum / 50 + 512 * 1024, to: ByteCount.mebibyte)
    }

    /// The size to retry at when mke2fs finds `automaticSize` too small (a tree whose metadata the estimate
    /// misjudges): `minimum` plus 10% and 2 MiB, rounded up to 1 MiB.
    public static func generousSize(minimum: UInt64) -> UInt64 {
        return ByteCount.roundUp(minimum + minimum / 10 + 2 * ByteCount.mebibyte, to: ByteCount.mebibyte)
    }

    /// Builds the filesystem into `path` (created or truncated) with exactly `size` bytes.
    public func write(tree: RootTree, to path: String, size: UInt64) throws {
        let needed = Self.minimumSize(for: tree)
        guard size >= needed else { throw ComposeError.imageTooSmall(requested: size, needed: needed) }
        guard size % Self.blockSize == 0 else {
            throw ComposeError.badOption("ext4 image size \(size) is not a multiple of 4 KiB")
        }
        try tree.applyAttributesToStaging(chown: false)
        let env = ["E2FSPROGS_FAKE_TIME": String(epoch)]
        var features = ["^resize_inode"]
        if !journal { features.insert("^has_journal", at: 0) }
        let uuidText = uuid.uuidString.lowercased()
        let arguments = ["-q", "-F", "-t", "ext4", "-b", String(Self.blockSize), "-I", String(Self.inodeSize),
                         "-L", label, "-U", uuidText, "-m", "0", "-N", String(Self.inodeCount(for: tree)),
                         "-O", features.joined(separator: ","),
                         "-E", "hash_seed=\(uuidText),root_owner=0:0,nodiscard,lazy_itable_init=0",
                         "-d", tree.staging, path, String(size / Self.blockSize)]
        do {
            try ImageTool.run("mke2fs", arguments, environment: env)
        } catch let ComposeError.toolFailed(tool, args, status, output) {
            if output.contains("Could not allocate block") || output.contains("No space left")
                || output.contains("Could not allocate inode") {
                throw ComposeError.imageTooSmall(requested: size, needed: needed + needed / 10)
            }
            throw ComposeError.toolFailed(tool: tool, arguments: args, status: status, output: output)
        }
        let script = try debugfsScript(for: tree)
        let scriptPath = path + ".debugfs"
        defer { try? FileManager.default.removeItem(atPath: scriptPath) }
        try Data(script.utf8).write(to: URL(fileURLWithPath: scriptPath))
        let output = try ImageTool.runCapturing("debugfs", ["-w", "-f", scriptPath, path], environment: env)
        // debugfs exits 0 even when a command fails; it names the failure on stderr after its version banner.
        if let bad = output.stderr.split(separator: "\n").first(where: { Self.isDebugfsError($0) }) {
            throw ComposeError.toolFailed(tool: "debugfs", arguments: ["-w", "-f", scriptPath, path], status: 0, output: String(bad))
        }
    }

    static func isDebugfsError(_ line: Substring) -> Bool {
        !line.hasPrefix("debugfs ") && !line.trimmingCharacters(in: .whitespaces).isEmpty
    }

    /// The debugfs commands that make every inode match the table: device nodes first, then attributes.
    func debugfsScript(for tree: RootTree) throws -> String {
        var lines: [String] = []
        for path in tree.sortedPaths {
            guard let entry = tree.entries[path] else { continue }
            guard !path.contains("\""), !path.contains("\n") else {
                throw ComposeError.badOption("ext4: cannot name \(path) in debugfs (quote or newline in the path)")
            }
            let quoted = "\"\(path)\""
            switch entry.kind {
            case let .characterDevice(major, minor), let .blockDevice(major, minor):
                let type = if case .characterDevice = entry.kind { "c" } else { "b" }
                // debugfs's mknod creates its name in the current directory, so change there first.
                lines.append("cd \"\((path as NSString).deletingLastPathComponent)\"")
                lines.append("mknod \"\((path as NSString).lastPathComponent)\" \(type) \(major) \(minor)")
                lines.append("cd /")
            case .fifo:
                lines.append("cd \"\((path as NSString).deletingLastPathComponent)\"")
                lines.append("mknod \"\((path as NSString).lastPathComponent)\" p")
                lines.append("cd /")
            default: break
            }
            lines.append("sif \(quoted) mode 0\(String(entry.mode, radix: 8))")
            lines.append("sif \(quoted) uid \(entry.uid)")
            lines.append("sif \(quoted) gid \(entry.gid)")
            for field in ["atime", "mtime", "ctime", "crtime"] { lines.append("sif \(quoted) \(field) @\(epoch)") }
        }
        for field in ["atime", "mtime", "ctime", "crtime"] { lines.append("sif /lost+found \(field) @\(epoch)") }
        return lines.joined(separator: "\n") + "\n"
    }
}
