// Kernel source trees: one given with --source, or Debian's linux-source-<version> tarball unpacked
// once into the cache (a minute of tar) and reused by every configuration and build, all of which run
// out of tree (make O=…) so the tree itself stays clean.
import Foundation
import HostProcess

/// A kernel source tree and the version it builds.
public struct KernelSource: Sendable {
    public let root: URL
    /// `VERSION.PATCHLEVEL.SUBLEVEL` + `EXTRAVERSION` from the top-level Makefile.
    public let version: String
    /// What identifies the tree's contents in cache keys (the Debian package version, or the path).
    public let identity: String

    /// How messages name the tree.
    public var name: String { "linux \(version)" }

    /// A tree given by path: it must hold a top-level Makefile, Kconfig and the kconfig scripts, and
    /// be clean (Kbuild refuses out-of-tree builds from a configured tree).
    public init(directory: URL, identity: String? = nil) throws(ComposeKernelError) {
        let root = directory.standardizedFileURL
        let manager = FileManager.default
        let makefile = root.appendingPathComponent("Makefile")
        guard manager.fileExists(atPath: root.path) else {
            throw ComposeKernelError("kernel source \(root.path) does not exist; pass --source DIR or --debian-source")
        }
        guard let text = try? String(contentsOf: makefile, encoding: .utf8),
              manager.fileExists(atPath: root.appendingPathComponent("Kconfig").path),
              manager.fileExists(atPath: root.appendingPathComponent("scripts/kconfig/merge_config.sh").path) else {
            throw ComposeKernelError(
                "\(root.path) is not a kernel source tree (needs Makefile, Kconfig and scripts/kconfig/merge_config.sh)")
        }
        guard let version = KernelSource.version(makefile: text) else {
            throw ComposeKernelError("\(makefile.path) names no VERSION/PATCHLEVEL/SUBLEVEL; is it a kernel tree?")
        }
        if manager.fileExists(atPath: root.appendingPathComponent(".config").path)
            || manager.fileExists(atPath: root.appendingPathComponent("include/config").path) {
            throw ComposeKernelError(
                "\(root.path) has been configured in place (.config or include/config); run 'make mrproper' there: builds here are out of tree")
        }
        self.root = root
        self.version = version
        self.identity = identity ?? "tree \(root.path) \(version)"
    }

    static func version(makefile: String) -> String? {
        var fields: [String: String] = [:]
        for line in makefile.split(separator: "\n").prefix(20) {
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            fields[String(parts[0].trimmingWhitespace())] = String(parts[1].trimmingWhitespace())
        }
        guard let major = fields["VERSION"], let minor = fields["PATCHLEVEL"], let sub = fields["SUBLEVEL"],
              !major.isEmpty, !minor.isEmpty else { return nil }
        return "\(major).\(minor).\(sub.isEmpty ? "0" : sub)\(fields["EXTRAVERSION"] ?? "")"
    }

    /// Debian's `linux-source-*` tarball in /usr/src (the newest when several are installed),
    /// unpacked under `<cache>/source/` on first use, with `patches` applied (each set its own tree).
    public static func debian(cache: URL, tarball explicit: String? = nil, patches: KernelPatches = .none,
                              progress: (String) -> Void = { _ in }) throws(ComposeKernelError) -> KernelSource {
        let tarball: String
        if let explicit { tarball = explicit } else { tarball = try newestDebianTarball() }
        let file = (tarball as NSString).lastPathComponent
        let packageName = file.hasSuffix(".tar.xz") ? String(file.dropLast(7)) : file
        let version = packageVersion(packageName) ?? fileStamp(tarball)
        let safeVersion = String(version.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "_" })
        let sources = cache.appendingPathComponent("source")
        let patchSet = patches.identity
        let destination = sources.appendingPathComponent("\(packageName)_\(safeVersion)\(patchSet.map { "+patches-\($0)" } ?? "")")
        let identity = "debian \(packageName) \(version)" + (patchSet.map { " patches \($0)" } ?? "")
        if FileManager.default.fileExists(atPath: destination.appendingPathComponent("Makefile").path) {
            return try KernelSource(directory: destination, identity: identity)
        }
        let lock = try FileLock(sources.appendingPathComponent(".unpack.lock"))
        defer { _ = lock }
        if FileManager.default.fileExists(atPath: destination.appendingPathComponent("Makefile").path) {
            return try KernelSource(directory: destination, identity: identity)
        }
        let scratch = sources.appendingPathComponent(".unpack-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.removeItem(at: scratch)
        do {
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        } catch {
            throw ComposeKernelError("cannot create \(scratch.path): \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(at: scratch) }
        let cleanup = TerminationSignals.onTermination { try? FileManager.default.removeItem(at: scratch) }
        defer { TerminationSignals.cancel(cleanup) }
        progress("unpacking \(tarball) into \(destination.path) (once; about a minute)")
        _ = try KernelTool("tar", ["-xf", tarball, "-C", scratch.path]).output()
        let top = (try? FileManager.default.contentsOfDirectory(atPath: scratch.path))?.filter { !$0.hasPrefix(".") } ?? []
        guard top.count == 1 else {
            throw ComposeKernelError("\(tarball) unpacked into \(top.count) top-level entries, expected one directory")
        }
        if !patches.patches.isEmpty {
            progress("applying \(patches.patches.map(\.name).joined(separator: ", ")) from kernel-config/patches")
            try patches.apply(to: scratch.appendingPathComponent(top[0]), scratch: scratch)
        }
        do {
            try FileManager.default.moveItem(at: scratch.appendingPathComponent(top[0]), to: destination)
        } catch {
            throw ComposeKernelError("cannot move the unpacked tree to \(destination.path): \(error.localizedDescription)")
        }
        return try KernelSource(directory: destination, identity: identity)
    }

    /// `/usr/src/linux-source-X.Y.tar.xz` with the highest version.
    static func newestDebianTarball() throws(ComposeKernelError) -> String {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/src")) ?? []
        let tarballs = files.filter { $0.hasPrefix("linux-source-") && $0.hasSuffix(".tar.xz") }
        let newest = tarballs.max { versionKey($0).lexicographicallyPrecedes(versionKey($1)) }
        guard let newest else {
            throw ComposeKernelError(
                "no /usr/src/linux-source-*.tar.xz: install Debian's linux-source-6.12 (make deps) or pass --source DIR")
        }
        return "/usr/src/" + newest
    }

    private static func versionKey(_ name: String) -> [Int] {
        name.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
    }

    private static func packageVersion(_ package: String) -> String? {
        guard let output = try? KernelTool("dpkg-query", ["-W", "-f=${Version}", package]).output() else { return nil }
        let version = output.trimmingCharacters(in: .whitespacesAndNewlines)
        return version.isEmpty ? nil : version
    }

    private static func fileStamp(_ path: String) -> String {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let size = (attributes?[.size] as? NSNumber)?.int64Value ?? 0
        let modified = Int64((attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)
        return "size\(size)-mtime\(modified)"
    }

    /// The default cache: `$XDG_CACHE_HOME/guestkit`, else `~/.cache/guestkit`.
    public static var defaultCache: URL {
        let environment = ProcessInfo.processInfo.environment
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
            return URL(fileURLWithPath: xdg).appendingPathComponent("guestkit")
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/guestkit")
    }
}
