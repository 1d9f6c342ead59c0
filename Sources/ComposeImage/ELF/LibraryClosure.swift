// Finds every shared library an ELF needs, the way glibc's ld.so would (dl-load.c, `man 8 ld.so`):
//   1. a DT_NEEDED name with a slash is used as a path;
//   2. DT_RPATH of the needing object, then of the objects that loaded it, unless the object has DT_RUNPATH;
//   3. (LD_LIBRARY_PATH: not used for images);
//   4. DT_RUNPATH of the needing object (its own needs only, never inherited);
//   5. the ld.so.cache, i.e. the directories listed in /etc/ld.so.conf and its includes;
//   6. the built-in system directories (Debian x86-64: /lib/x86_64-linux-gnu, /usr/lib/x86_64-linux-gnu, /lib, /usr/lib).
// $ORIGIN, $LIB and $PLATFORM are expanded in RPATH/RUNPATH. Each library goes into the guest at the path the
// guest's loader will look at: the same directory for absolute and system entries, the $ORIGIN-expanded guest
// directory for $ORIGIN entries, and the first system directory for libraries found only through
// ld.so.conf (a composed guest has no ld.so.cache). glibc-hwcaps subdirectories are not searched.
import Foundation

/// The directories a loader searches besides RPATH/RUNPATH: ld.so.conf's and the built-in ones.
public struct LoaderSearchPath: Sendable, Equatable {
    /// Directories from ld.so.conf and its includes, in file order.
    public var configured: [String]
    /// The loader's built-in directories, in order (those the guest's loader searches without a cache).
    public var system: [String]

    public init(configured: [String], system: [String]) {
        self.configured = configured
        self.system = system
    }

    /// The host's search path: `/etc/ld.so.conf` under `root`, and Debian's built-in directories for `machine`.
    public static func host(root: String = "/", machine: UInt16 = 62) -> LoaderSearchPath {
        let triplet = multiarchTriplet(machine: machine)
        var system = ["/lib", "/usr/lib"]
        if let triplet { system = ["/lib/\(triplet)", "/usr/lib/\(triplet)"] + system }
        let configured = LdSoConf.directories(root: root, file: "/etc/ld.so.conf")
        return LoaderSearchPath(configured: configured, system: system)
    }

    /// Debian's multiarch triplet for an ELF machine (the loader's $LIB is `lib/<triplet>` there).
    public static func multiarchTriplet(machine: UInt16) -> String? {
        switch machine {
        case 62: "x86_64-linux-gnu"
        case 183: "aarch64-linux-gnu"
        case 3: "i386-linux-gnu"
        default: nil
        }
    }
}

/// Reads ld.so.conf: one directory per line (or separated by spaces, commas, colons), `include GLOB` lines,
/// `#` comments; glob patterns relative to /etc.
enum LdSoConf {
    static func directories(root: String, file: String, depth: Int = 0) -> [String] {
        guard depth < 8, let text = try? String(contentsOfFile: root.joinedPath(file), encoding: .utf8) else { return [] }
        var result: [String] = []
        for rawLine in text.split(separator: "\n") {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                .trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("hwcap ") { continue }
            if line.hasPrefix("include") {
                for pattern in line.dropFirst("include".count).split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                    let absolute = pattern.hasPrefix("/") ? String(pattern) : "/etc/" + pattern
                    for included in expandGlob(absolute, root: root) {
                        result += directories(root: root, file: included, depth: depth + 1)
                    }
                }
                continue
            }
            for dir in line.split(whereSeparator: { " \t,:".contains($0) }) where dir.hasPrefix("/") {
                let path = String(dir).normalizedPath
                if !result.contains(path) { result.append(path) }
            }
        }
        return result
    }

    /// Expands a glob in its last component only (what ld.so.conf files use: `/etc/ld.so.conf.d/*.conf`).
    static func expandGlob(_ pattern: String, root: String) -> [String] {
        let dir = (pattern as NSString).deletingLastPathComponent
        let name = (pattern as NSString).lastPathComponent
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root.joinedPath(dir)) else { return [] }
        return names.filter { fnmatch(name, $0, 0) == 0 }.sorted().map { dir.joinedPath($0) }
    }
}

/// One library to install: its content comes from `hostPath`, the guest's loader finds it at `guestPath`.
public struct LibraryPlacement: Sendable, Equatable {
    public let guestPath: String
    public let hostPath: String
    /// The host path of the object whose DT_NEEDED (or PT_INTERP) brought it in.
    public let neededBy: String
}

/// Computes the shared-library closure of a set of ELF executables, as the loader would resolve it.
public struct LibraryClosure: Sendable {
    public let searchPath: LoaderSearchPath
    /// Host directory prefixed to every absolute lookup (tests point it at a fake sysroot; normally "/").
    public let hostRoot: String

    public init(searchPath: LoaderSearchPath = .host(), hostRoot: String = "/") {
        self.searchPath = searchPath
        self.hostRoot = hostRoot
    }

    /// A root object: an executable installed at `guestPath`, read from `hostPath`; `role` names it in errors.
    public struct Root: Sendable {
        public let hostPath: String
        public let guestPath: String
        public let role: String
        public init(hostPath: String, guestPath: String, role: String) {
            self.hostPath = hostPath
            self.guestPath = guestPath
            self.role = role
        }
    }

    private struct SearchDir {
        /// Where to look on the host (already under hostRoot).
        let host: String
        let guest: String
    }

    private struct Pending {
        let hostPath: String
        let guestPath: String
        let elf: ELFFile
        /// RPATH directories inherited from the objects that loaded this one (already expanded).
        let inheritedRpath: [SearchDir]
    }

    /// Every library (and loader) the roots need, sorted by guest path; an unresolvable name throws.
    public func resolve(_ roots: [Root]) throws -> [LibraryPlacement] {
        var placements: [String: LibraryPlacement] = [:]
        var loadedNames: Set<String> = []
        var queue: [Pending] = []
        let rootGuestPaths = Set(roots.map(\.guestPath))

        func place(guest: String, host: String, neededBy: String) throws {
            let real = host.realPath
            if let existing = placements[guest] {
                if existing.hostPath != real {
                    throw ComposeError.badOption("library conflict at \(guest): \(existing.hostPath) (for \(existing.neededBy)) "
                        + "and \(real) (for \(neededBy)); the guest can hold only one")
                }
                return
            }
            if rootGuestPaths.contains(guest) {
                throw ComposeError.badOption("\(neededBy) needs a library at \(guest), where an executable is installed")
            }
            placements[guest] = LibraryPlacement(guestPath: guest, hostPath: real, neededBy: neededBy)
        }

        for root in roots {
            let elf = try ELFFile(path: root.hostPath, role: root.role)
            if let interp = elf.interpreter {
                let host = hostRoot.joinedPath(interp)
                guard FileManager.default.fileExists(atPath: host), ELFFile.hasMagic(path: host) else {
                    throw ComposeError.unresolvedLibrary(library: interp, neededBy: root.hostPath, searched: [interp])
                }
                try place(guest: interp, host: host, neededBy: root.hostPath)
                loadedNames.insert((interp as NSString).lastPathComponent)
            }
            queue.append(Pending(hostPath: root.hostPath.realPath,
                                 guestPath: root.guestPath, elf: elf, inheritedRpath: []))
        }

        var index = 0
        while index < queue.count {
            let object = queue[index]
            index += 1
            let ownRpath = object.elf.runpath.isEmpty ? expand(object.elf.rpath, for: object) : []
            let rpathChain = object.elf.runpath.isEmpty ? ownRpath + object.inheritedRpath : []
            let runpath = expand(object.elf.runpath, for: object)
            for name in object.elf.needed where !loadedNames.contains(name) {
                let candidates: [SearchDir]
                if name.contains("/") {
                    let dir = (name as NSString).deletingLastPathComponent
                    candidates = [SearchDir(host: hostRoot.joinedPath(dir), guest: dir)]
                } else {
                    let configured = searchPath.configured.map {
                        SearchDir(host: hostRoot.joinedPath($0),
                                  guest: searchPath.system.contains($0) ? $0 : (searchPath.system.first ?? $0))
                    }
                    let system = searchPath.system.map { SearchDir(host: hostRoot.joinedPath($0), guest: $0) }
                    let fallback = (object.elf.is64Bit ? ["/lib64", "/usr/lib64"] : [])
                        .map { SearchDir(host: hostRoot.joinedPath($0), guest: searchPath.system.first ?? $0) }
                    candidates = rpathChain + runpath + configured + system + fallback
                }
                let base = (name as NSString).lastPathComponent
                var found: (SearchDir, String, ELFFile)?
                for dir in candidates {
                    let host = dir.host.joinedPath(base)
                    guard FileManager.default.fileExists(atPath: host), ELFFile.hasMagic(path: host),
                          let elf = try? ELFFile(path: host), elf.isCompatible(with: object.elf) else { continue }
                    found = (dir, host, elf)
                    break
                }
                guard let (dir, host, elf) = found else {
                    var searched: [String] = []
                    for dir in candidates where !searched.contains(dir.host) { searched.append(dir.host) }
                    throw ComposeError.unresolvedLibrary(library: name, neededBy: object.hostPath, searched: searched)
                }
                let guest = dir.guest.joinedPath(base)
                try place(guest: guest, host: host, neededBy: object.hostPath)
                loadedNames.insert(name)
                if let soname = elf.soname { loadedNames.insert(soname) }
                queue.append(Pending(hostPath: host, guestPath: guest, elf: elf, inheritedRpath: rpathChain))
            }
        }
        return placements.values.sorted { $0.guestPath < $1.guestPath }
    }

    /// Expands $ORIGIN (the object's directory: on the host for lookup, in the guest for placement), $LIB, $PLATFORM.
    private func expand(_ entries: [String], for object: Pending) -> [SearchDir] {
        let hostOrigin = (object.hostPath as NSString).deletingLastPathComponent
        let guestOrigin = (object.guestPath as NSString).deletingLastPathComponent
        let lib = LoaderSearchPath.multiarchTriplet(machine: object.elf.machine).map { "lib/\($0)" } ?? "lib"
        let platform = object.elf.machine == 183 ? "aarch64" : "x86_64"
        func substitute(_ text: String, origin: String) -> String {
            var out = text
            for (token, value) in [("$ORIGIN", origin), ("${ORIGIN}", origin), ("$LIB", lib), ("${LIB}", lib),
                                   ("$PLATFORM", platform), ("${PLATFORM}", platform)] {
                out = out.replacingOccurrences(of: token, with: value)
            }
            return out
        }
        return entries.map { entry in
            let guest = substitute(entry, origin: guestOrigin).normalizedPath
            // An $ORIGIN entry expands to a real host path; any other is looked up under hostRoot.
            let host = substitute(entry, origin: hostOrigin).normalizedPath
            return SearchDir(host: entry.contains("ORIGIN") ? host : hostRoot.joinedPath(host), guest: guest)
        }
    }
}

extension String {
    /// `self` + "/" + `component`, without doubled slashes.
    func joinedPath(_ component: String) -> String {
        if component.isEmpty { return self }
        if self.isEmpty || self == "/" { return component.hasPrefix("/") ? component : "/" + component }
        let head = self.hasSuffix("/") ? String(self.dropLast()) : self
        return component.hasPrefix("/") ? head + component : head + "/" + component
    }

    /// Lexically normalised absolute path: no `.`, no `..`, no doubled or trailing slashes.
    var normalizedPath: String {
        var parts: [Substring] = []
        for part in self.split(separator: "/") {
            if part == "." || part.isEmpty { continue }
            if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(part)
        }
        return (self.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
    }
}

extension String {
    /// realpath(3): every symlink resolved (Foundation's resolvingSymlinksInPath stops early on Linux);
    /// the path itself when it does not exist.
    var realPath: String {
        guard let resolved = Glibc.realpath(self, nil) else { return self }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
