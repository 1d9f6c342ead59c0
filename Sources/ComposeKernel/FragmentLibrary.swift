// The `kernel-config/` directory: fragments shared by every architecture in `common/`, per-architecture
// fragments in `<arch>/`, profiles in `profiles/<vmm>.profile`, and patches to the source in `patches/`. A profile lists fragment names, one
// per line, or `include <profile>`; a fragment name N contributes `common/N.conf` then `<arch>/N.conf`,
// whichever exist, so an architecture adds to a shared concern without repeating it.
import Foundation

/// The fragments and profiles of a `kernel-config/` directory.
public struct FragmentLibrary: Sendable {
    /// The `kernel-config/` directory.
    public let root: URL

    public init(root: URL) throws(ComposeKernelError) {
        var isDirectory: ObjCBool = false
        let profiles = root.appendingPathComponent("profiles").path
        guard FileManager.default.fileExists(atPath: profiles, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ComposeKernelError("\(root.path) is not a kernel-config directory (no profiles/ in it)")
        }
        self.root = root.standardizedFileURL
    }

    /// Finds `kernel-config/`: the given directory, else `$GUESTKIT_KERNEL_CONFIG`, else the nearest
    /// `kernel-config/` above the current directory or above the running executable (a checkout's
    /// `.build/`), else `/usr/share/guestkit/kernel-config`.
    public static func locate(_ explicit: String? = nil) throws(ComposeKernelError) -> FragmentLibrary {
        if let explicit { return try FragmentLibrary(root: URL(fileURLWithPath: explicit)) }
        if let fromEnvironment = ProcessInfo.processInfo.environment["GUESTKIT_KERNEL_CONFIG"] {
            return try FragmentLibrary(root: URL(fileURLWithPath: fromEnvironment))
        }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let starts = [URL(fileURLWithPath: FileManager.default.currentDirectoryPath), executable.deletingLastPathComponent()]
        for start in starts {
            var directory = start.standardizedFileURL
            while true {
                let candidate = directory.appendingPathComponent("kernel-config")
                if let library = try? FragmentLibrary(root: candidate) { return library }
                if directory.path == "/" { break }
                directory.deleteLastPathComponent()
            }
        }
        if let installed = try? FragmentLibrary(root: URL(fileURLWithPath: "/usr/share/guestkit/kernel-config")) {
            return installed
        }
        throw ComposeKernelError(
            "no kernel-config/ directory found above \(FileManager.default.currentDirectoryPath) or the executable; pass --fragments DIR")
    }

    /// The patches in `patches/`, applied to Debian's kernel tree when it is unpacked.
    public func patches() throws(ComposeKernelError) -> KernelPatches {
        try KernelPatches(directory: root.appendingPathComponent("patches"))
    }

    /// The profile names (`all`, `firecracker`, …), sorted.
    public var profileNames: [String] {
        names(in: "profiles", suffix: ".profile")
    }

    /// The fragment names available for an architecture, sorted.
    public func fragmentNames(arch: KernelArch) -> [String] {
        Array(Set(names(in: "common", suffix: ".conf") + names(in: arch.rawValue, suffix: ".conf"))).sorted()
    }

    /// The fragment names of some profiles: their union, in the order the profiles list them
    /// (`include` expanded in place).
    public func fragmentNames(profiles: [String]) throws(ComposeKernelError) -> [String] {
        var names: [String] = []
        for profile in profiles {
            for name in try expand(profile: profile, including: []) where !names.contains(name) {
                names.append(name)
            }
        }
        return names
    }

    /// Resolves a plan: the profiles' fragments, minus `without`, plus `with` (names or paths of
    /// fragment files), loaded and merged for one architecture.
    public func plan(arch: KernelArch, profiles: [String], with extra: [String] = [],
                     without: [String] = []) throws(ComposeKernelError) -> FragmentPlan {
        guard !profiles.isEmpty else { throw ComposeKernelError("no VMM profile given; known: \(profileNames.joined(separator: ", "))") }
        var names = try fragmentNames(profiles: profiles)
        for name in without {
            guard let position = names.firstIndex(of: name) else {
                throw ComposeKernelError(
                    "--without \(name): not a fragment of \(profiles.joined(separator: ",")) (it has \(names.joined(separator: ", ")))")
            }
            names.remove(at: position)
        }
        var fragments: [KernelFragment] = []
        for name in names { fragments += try load(fragment: name, arch: arch) }
        for item in extra {
            if item.contains("/") || item.hasSuffix(".conf") {
                fragments.append(try loadFile(path: item, name: item))
            } else {
                guard !names.contains(item) else { continue }
                names.append(item)
                fragments += try load(fragment: item, arch: arch)
            }
        }
        return FragmentPlan(arch: arch, profiles: profiles, fragmentNames: names, fragments: fragments)
    }

    /// The files of one named fragment for an architecture: `common/N.conf` then `<arch>/N.conf`.
    public func load(fragment name: String, arch: KernelArch) throws(ComposeKernelError) -> [KernelFragment] {
        let candidates = ["common", arch.rawValue].map { root.appendingPathComponent($0).appendingPathComponent("\(name).conf") }
        let present = candidates.filter { FileManager.default.fileExists(atPath: $0.path) }
        guard !present.isEmpty else {
            let known = fragmentNames(arch: arch)
            let hint = SymbolSuggestion.closest(to: name, among: known).map { " (did you mean \($0)?)" } ?? ""
            throw ComposeKernelError(
                "unknown fragment '\(name)' for \(arch.rawValue)\(hint): no \(displayPath(candidates[0])) or \(displayPath(candidates[1])); known: \(known.joined(separator: ", "))")
        }
        var fragments: [KernelFragment] = []
        for url in present { fragments.append(try loadFile(path: url.path, name: name)) }
        return fragments
    }

    func loadFile(path: String, name: String) throws(ComposeKernelError) -> KernelFragment {
        let url = URL(fileURLWithPath: path)
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw ComposeKernelError("cannot read fragment \(path): \(error.localizedDescription)")
        }
        return try KernelFragment(name: name, path: displayPath(url), file: url.standardizedFileURL.path, text: text)
    }

    /// Paths inside the library are shown as `kernel-config/…`.
    func displayPath(_ url: URL) -> String {
        let full = url.standardizedFileURL.path
        let base = root.deletingLastPathComponent().path
        if full.hasPrefix(root.path + "/") { return String(full.dropFirst(base.count + (base == "/" ? 0 : 1))) }
        return full
    }

    private func expand(profile: String, including chain: [String]) throws(ComposeKernelError) -> [String] {
        guard !chain.contains(profile) else {
            throw ComposeKernelError("profile include cycle: \((chain + [profile]).joined(separator: " -> "))")
        }
        let url = root.appendingPathComponent("profiles").appendingPathComponent("\(profile).profile")
        guard let text = try? String(contentsOf: url, encoding: .utf8) else {
            let hint = SymbolSuggestion.closest(to: profile, among: profileNames).map { " (did you mean \($0)?)" } ?? ""
            throw ComposeKernelError(
                "unknown VMM profile '\(profile)'\(hint); known: \(profileNames.joined(separator: ", "))")
        }
        var names: [String] = []
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            if words.count == 2, words[0] == "include" {
                for name in try expand(profile: String(words[1]), including: chain + [profile]) where !names.contains(name) {
                    names.append(name)
                }
            } else if words.count == 1, FragmentLibrary.isFragmentName(words[0]) {
                if !names.contains(String(words[0])) { names.append(String(words[0])) }
            } else {
                throw ComposeKernelError(
                    "\(displayPath(url)):\(lineNumber): expected a fragment name or 'include <profile>', got '\(line)'")
            }
        }
        return names
    }

    private static func isFragmentName(_ text: Substring) -> Bool {
        text.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d || $0 == 0x5f }
    }

    private func names(in directory: String, suffix: String) -> [String] {
        let path = root.appendingPathComponent(directory).path
        let files = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return files.filter { $0.hasSuffix(suffix) }.map { String($0.dropLast(suffix.count)) }.sorted()
    }
}

/// The fragments chosen for one kernel, in merge order, and their merged request.
public struct FragmentPlan: Sendable {
    public let arch: KernelArch
    public let profiles: [String]
    /// The named fragments, in order (paths given with `--with` are only in `fragments`).
    public let fragmentNames: [String]
    /// Every fragment file, in merge order.
    public let fragments: [KernelFragment]
    public let request: ConfigRequest

    public init(arch: KernelArch, profiles: [String], fragmentNames: [String], fragments: [KernelFragment]) {
        self.arch = arch
        self.profiles = profiles
        self.fragmentNames = fragmentNames
        self.fragments = fragments
        request = ConfigRequest(merging: fragments)
    }
}
