// erofs through mkfs.erofs (erofs-utils 1.5 in Debian 12): the block size is the page size (4 KiB on x86-64),
// -T fixes every timestamp, -U the UUID, --all-root makes every file root's without root. Per-file owners
// other than root need the staging files chowned, which only root can do; device nodes likewise need root
// (without it they are left out: devtmpfs provides /dev in a booted guest). With DAX, files are written
// uncompressed and without inline tails (-E noinline_data) so every regular file is DAX-mappable.
import Foundation

/// Writes an erofs image of a tree.
public struct ErofsImage: Sendable {
    public enum Compression: String, Sendable, CaseIterable { case none, lz4, lz4hc }

    public var uuid: UUID
    public var epoch: Int64
    public var compression: Compression
    public var dax: Bool

    public init(uuid: UUID, epoch: Int64, compression: Compression = .none, dax: Bool = false) {
        self.uuid = uuid
        self.epoch = epoch
        self.compression = compression
        self.dax = dax
    }

    /// Warnings for the log (e.g. device nodes left out without root).
    public private(set) var warnings: [String] = []

    /// Builds the filesystem into `path`.
    public mutating func write(tree: RootTree, to path: String) throws {
        if dax, compression != .none {
            throw ComposeError.badOption("erofs: --compression \(compression.rawValue) with --dax: compressed files cannot be DAX-mapped")
        }
        let isRoot = geteuid() == 0
        let allRoot = tree.entries.values.allSatisfy { $0.uid == 0 && $0.gid == 0 }
        if !allRoot, !isRoot {
            let example = tree.sortedPaths.first { tree.entries[$0].map { $0.uid != 0 || $0.gid != 0 } ?? false } ?? "?"
            throw ComposeError.badOption("erofs: \(example) is owned by \(tree.entries[example]!.uid):\(tree.entries[example]!.gid); "
                + "owners other than root need the composer to run as root for erofs (ext4 and initramfs do not)")
        }
        let nodes = tree.entries.filter { !$0.value.kind.isStaged }
        if !nodes.isEmpty {
            if isRoot {
                try tree.stageNodes()
            } else {
                warnings.append("erofs: left out \(nodes.count) device node(s) (\(nodes.keys.sorted().joined(separator: ", "))): "
                    + "creating them needs root; devtmpfs provides /dev at boot")
            }
        }
        try tree.applyAttributesToStaging(chown: isRoot && !allRoot)
        var arguments = ["--quiet", "-T\(epoch)", "-U\(uuid.uuidString.lowercased())"]
        if allRoot { arguments.append("--all-root") }
        if compression != .none { arguments.append("-z\(compression.rawValue)") }
        if dax { arguments.append("-Enoinline_data") }
        arguments += [path, tree.staging]
        try ImageTool.run("mkfs.erofs", arguments)
    }
}
