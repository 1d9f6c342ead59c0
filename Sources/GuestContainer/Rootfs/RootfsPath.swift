import GuestSys

/// Paths inside a container's root, resolved the way filepath-securejoin does for runc: symlinks are
/// followed as if the root were `/`, and `..` never leaves it, so a hostile rootfs cannot point a mount
/// or a device node at the host.
public enum RootfsPath {
    /// `root` joined with `path`, every symlink on the way resolved inside `root`. Components that do not
    /// exist are appended as they are.
    public static func resolve(_ path: String, in root: String) -> String {
        var resolved: [String] = []
        var pending = components(path)
        var expansions = 0
        while !pending.isEmpty {
            let part = pending.removeFirst()
            if part == "." { continue }
            if part == ".." {
                if !resolved.isEmpty { resolved.removeLast() }
                continue
            }
            let candidate = root + "/" + (resolved + [part]).joined(separator: "/")
            if let st = try? FileSystem.status(candidate, followSymlinks: false), st.isSymlink, expansions < 255,
               let target = try? FileSystem.readLink(candidate) {
                expansions += 1
                if target.hasPrefix("/") { resolved = [] }
                pending = components(target) + pending
                continue
            }
            resolved.append(part)
        }
        let suffix = resolved.joined(separator: "/")
        return suffix.isEmpty ? root : root + "/" + suffix
    }

    static func components(_ path: String) -> [String] {
        path.split(separator: "/").map(String.init)
    }

    /// The lexically cleaned absolute form of a container path ("/a/./b/../c" → "/a/c").
    public static func clean(_ path: String) -> String {
        var parts: [String] = []
        for part in components(path) {
            if part == "." { continue }
            if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }
}
