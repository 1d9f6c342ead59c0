// Patches to Debian's kernel source: `kernel-config/patches/*.patch`, unified diffs taken with -p1,
// applied in name order when the tarball is unpacked into the cache. The set's hash is part of the
// unpacked tree's directory name and identity, so a changed patch means a fresh tree and fresh cache
// keys, never a kernel built from a tree patched some other way. A tree given with --source is taken
// as it is.
import ContentHash
import Foundation

/// The patches applied to an unpacked Debian kernel tree, and what identifies the set.
public struct KernelPatches: Sendable, Equatable {
    /// One patch file: its name (which orders it) and its bytes.
    public struct Patch: Sendable, Equatable {
        public let name: String
        public let contents: [UInt8]

        public init(name: String, contents: [UInt8]) {
            self.name = name
            self.contents = contents
        }
    }

    public let patches: [Patch]

    /// No patches: the tarball's tree as Debian ships it.
    public static let none = KernelPatches(patches: [])

    public init(patches: [Patch]) { self.patches = patches.sorted { $0.name < $1.name } }

    /// Every `*.patch` in `directory`, by name; none when the directory does not exist.
    public init(directory: URL) throws(ComposeKernelError) {
        let manager = FileManager.default
        guard manager.fileExists(atPath: directory.path) else {
            self = .none
            return
        }
        let names: [String]
        do { names = try manager.contentsOfDirectory(atPath: directory.path) } catch {
            throw ComposeKernelError("cannot list kernel patches in \(directory.path): \(error.localizedDescription)")
        }
        var patches: [Patch] = []
        for name in names where name.hasSuffix(".patch") {
            let path = directory.appendingPathComponent(name).path
            guard let data = manager.contents(atPath: path) else { throw ComposeKernelError("cannot read kernel patch \(path)") }
            patches.append(Patch(name: name, contents: [UInt8](data)))
        }
        self.init(patches: patches)
    }

    /// Twelve hex digits of SHA-256 over every patch's name and bytes; nil for no patches.
    public var identity: String? {
        guard !patches.isEmpty else { return nil }
        var bytes: [UInt8] = []
        for patch in patches {
            bytes += Array(patch.name.utf8) + [0] + Array(String(patch.contents.count).utf8) + [0] + patch.contents
        }
        return String(SHA256Hex.of(bytes).prefix(12))
    }

    /// Applies every patch to `tree` in order (`patch -p1 --forward --batch`); the first that does not
    /// apply cleanly is named, with patch's own output.
    func apply(to tree: URL, scratch: URL) throws(ComposeKernelError) {
        for patch in patches {
            let file = scratch.appendingPathComponent(patch.name)
            do { try Data(patch.contents).write(to: file) } catch {
                throw ComposeKernelError("cannot stage kernel patch \(patch.name) at \(file.path): \(error.localizedDescription)")
            }
            do {
                _ = try KernelTool("patch", ["-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-i", file.path],
                                   in: tree).output()
            } catch {
                throw ComposeKernelError("kernel patch \(patch.name) does not apply to \(tree.lastPathComponent): "
                    + "\(error.description); update it for this kernel or remove it from kernel-config/patches")
            }
        }
    }
}
