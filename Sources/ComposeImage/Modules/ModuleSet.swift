// Kernel modules for a stock-kernel guest: the named modules and everything modules.dep says they need are
// copied from a lib/modules/<release> tree into the image, then `depmod -b` regenerates modules.dep,
// modules.alias and their .bin indexes for exactly that set (depmod needs no root with -b).
// modules.dep lines read "path/to/a.ko[.xz|.zst|.gz]: dep1.ko dep2.ko", paths relative to the release
// directory, dependencies listed nearest first; module names treat '-' and '_' alike.
import Foundation

/// A lib/modules/<release> tree to take modules from.
public struct ModuleSet {
    /// The release directory (holds modules.dep).
    public let directory: String
    public let release: String
    /// Relative module path → its dependencies' relative paths.
    public let dependencies: [String: [String]]

    /// Accepts `lib/modules/<release>` itself or any directory with exactly one `lib/modules/<release>` below it.
    public init(directory given: String) throws {
        var dir = given
        if !FileManager.default.fileExists(atPath: dir.joinedPath("modules.dep")) {
            let modules = given.joinedPath("lib/modules")
            let releases = ((try? FileManager.default.contentsOfDirectory(atPath: modules)) ?? []).sorted()
            guard releases.count == 1 else {
                throw ComposeError.badModules("\(given) is neither lib/modules/<release> (no modules.dep) nor a tree with exactly one "
                    + "lib/modules/<release> (found \(releases.count)); run depmod there or point at the release directory")
            }
            dir = modules.joinedPath(releases[0])
        }
        guard let text = try? String(contentsOfFile: dir.joinedPath("modules.dep"), encoding: .utf8) else {
            throw ComposeError.badModules("cannot read \(dir.joinedPath("modules.dep")); run `depmod -b ROOT RELEASE` first")
        }
        directory = dir
        release = (dir as NSString).lastPathComponent
        dependencies = Self.parseDependencies(text)
    }

    static func parseDependencies(_ text: String) -> [String: [String]] {
        var result: [String: [String]] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            result[String(line[..<colon])] = line[line.index(after: colon)...].split(separator: " ").map(String.init)
        }
        return result
    }

    /// "virtio-pmem", "virtio_pmem.ko.xz" → "virtio_pmem".
    public static func moduleName(_ text: String) -> String {
        var name = (text as NSString).lastPathComponent
        for suffix in [".xz", ".zst", ".gz"] where name.hasSuffix(suffix) { name.removeLast(suffix.count) }
        if name.hasSuffix(".ko") { name.removeLast(3) }
        return name.replacingOccurrences(of: "-", with: "_")
    }

    /// What `install` did.
    public struct Installed: Sendable {
        /// Module names, dependencies before the modules that need them.
        public let loadOrder: [String]
    }

    /// Copies `names` and their dependencies to /lib/modules/<release>/ in the tree and runs depmod there.
    public func install(_ names: [String], into tree: RootTree) throws -> Installed {
        var byName: [String: String] = [:]
        for path in dependencies.keys { byName[Self.moduleName(path)] = path }
        var order: [String] = []
        var visiting: Set<String> = []
        func visit(_ path: String) {
            guard !order.contains(path), !visiting.contains(path) else { return }
            visiting.insert(path)
            for dependency in (dependencies[path] ?? []).reversed() { visit(dependency) }
            order.append(path)
        }
        for name in names {
            guard let path = byName[Self.moduleName(name)] else {
                throw ComposeError.badModules("no module \(name) in \(directory) (modules.dep has \(dependencies.count) modules; "
                    + "built-in modules need no copying)")
            }
            visit(path)
        }
        let guestRoot = "/lib/modules/\(release)"
        try tree.addDirectory(guestRoot)
        for path in order {
            let host = directory.joinedPath(path)
            guard FileManager.default.isReadableFile(atPath: host) else {
                throw ComposeError.badModules("modules.dep lists \(path) but \(host) is missing")
            }
            try tree.addFile(guestRoot.joinedPath(path), copying: host, permissions: 0o644)
        }
        // modprobe needs to know what is built in; depmod reads modules.order and modules.builtin if present.
        for extra in ["modules.builtin", "modules.builtin.modinfo", "modules.order"]
        where FileManager.default.isReadableFile(atPath: directory.joinedPath(extra)) {
            if extra == "modules.order" {
                let kept = Set(order)
                let text = (try? String(contentsOfFile: directory.joinedPath(extra), encoding: .utf8)) ?? ""
                let lines = text.split(separator: "\n").filter { line in kept.contains { $0.hasPrefix(String(line)) } }
                try tree.addFile(guestRoot.joinedPath(extra), contents: Data((lines.joined(separator: "\n") + "\n").utf8), permissions: 0o644)
            } else {
                try tree.addFile(guestRoot.joinedPath(extra), copying: directory.joinedPath(extra), permissions: 0o644)
            }
        }
        let stagedRoot = try tree.canonicalPath("/lib/modules")
        let stagingBase = (tree.stagingPath(stagedRoot) as NSString).deletingLastPathComponent
        // depmod -b BASE looks in BASE/lib/modules/RELEASE; the canonical path may differ if /lib is a symlink.
        let base = stagedRoot == "/lib/modules" ? tree.staging : (stagingBase as NSString).deletingLastPathComponent
        try ImageTool.run("depmod", ["-b", base, release])
        let names = order.map(Self.moduleName)
        // Record what depmod wrote so every format carries it with the right owner and mode.
        let releaseDir = try tree.canonicalPath(guestRoot)
        let produced = (try? FileManager.default.contentsOfDirectory(atPath: tree.stagingPath(releaseDir))) ?? []
        for file in produced.sorted() where file.hasPrefix("modules.") && tree.entries[releaseDir.joinedPath(file)] == nil {
            let staged = tree.stagingPath(releaseDir.joinedPath(file))
            let data = FileManager.default.contents(atPath: staged) ?? Data()
            try tree.addFile(releaseDir.joinedPath(file), contents: data, permissions: 0o644)
        }
        try tree.addFile("/etc/modules-load.d/guestkit.conf", contents: Data((names.joined(separator: "\n") + "\n").utf8),
                         permissions: 0o644)
        return Installed(loadOrder: names)
    }
}
