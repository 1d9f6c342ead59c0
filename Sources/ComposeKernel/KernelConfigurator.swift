// Resolving a plan against a real tree with the kernel's own kconfig tooling, as Kata does:
// `merge_config.sh -m` merges the fragment files (its result must equal ours, or the merge rules
// disagree), `make allnoconfig` with the merge as KCONFIG_ALLCONFIG sets everything else to n, and
// `make olddefconfig` settles it; then every requested value is checked against the result.
//
// One scratch object directory per tree and architecture holds the kconfig host tools, so only the
// first run pays for building them; runs take a lock on it and keep their .config files apart with
// KCONFIG_CONFIG.
import ContentHash
import Foundation

/// A plan resolved into a full .config by a kernel tree, and what did not survive.
public struct ResolvedConfig: Sendable {
    public let plan: FragmentPlan
    /// The final .config text as olddefconfig wrote it.
    public let configText: String
    public let config: DotConfig
    public let dropped: [DroppedOption]
    /// What merge_config.sh printed (its override warnings).
    public let mergeLog: String
    /// Said when the result is less certain than a native configuration (no cross compiler).
    public let caveat: String?
}

/// The kconfig side of one kernel tree for one architecture: its parsed Kconfig and the tooling runs.
public struct KernelConfigurator: Sendable {
    public let source: KernelSource
    public let arch: KernelArch
    public let cache: URL
    /// `CROSS_COMPILE=` for this architecture, when the host is another one and a cross compiler exists.
    public let crossCompile: String?
    public let tree: KconfigTree
    public let validation: ConfigValidation

    public init(source: KernelSource, arch: KernelArch, cache: URL) throws(ComposeKernelError) {
        self.source = source
        self.arch = arch
        self.cache = cache
        crossCompile = KernelConfigurator.crossCompilePrefix(for: arch)
        tree = try KconfigTree.parse(source: source.root, srcArch: arch.srcArch)
        validation = ConfigValidation(tree: tree, otherArchitectures: KconfigSymbolIndex.scan(source: source.root),
                                      treeName: source.name, arch: arch)
    }

    /// The prefix of a cross compiler for `arch` on PATH, or nil on a native host or without one.
    static func crossCompilePrefix(for arch: KernelArch) -> String? {
        guard KernelArch.host != arch else { return nil }
        let prefix = arch.debianCrossPrefix
        let found = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/\(prefix)gcc")
        }
        return found ? prefix : nil
    }

    /// Make arguments shared by every run on this tree: out of tree, the architecture, the compiler.
    func makeArguments(objectDirectory: URL) -> [String] {
        var arguments = ["-C", source.root.path, "O=\(objectDirectory.path)", "ARCH=\(arch.makeArch)"]
        if let crossCompile { arguments.append("CROSS_COMPILE=\(crossCompile)") }
        return arguments
    }

    /// The scratch object directory for kconfig runs on this tree and architecture.
    var kconfigDirectory: URL {
        let key = SHA256Hex.of(text: "\(source.identity)|\(arch.rawValue)|\(crossCompile ?? "")").prefix(12)
        return cache.appendingPathComponent("kconfig").appendingPathComponent("\(arch.rawValue)-\(key)")
    }

    /// Merges, resolves and validates a plan.
    public func resolve(_ plan: FragmentPlan) throws(ComposeKernelError) -> ResolvedConfig {
        guard plan.arch == arch else {
            throw ComposeKernelError("plan is for \(plan.arch.rawValue), configurator for \(arch.rawValue)")
        }
        let manager = FileManager.default
        let work = cache.appendingPathComponent("kconfig").appendingPathComponent("run-\(UUID().uuidString.prefix(8))")
        do {
            try manager.createDirectory(at: work, withIntermediateDirectories: true)
        } catch {
            throw ComposeKernelError("cannot create \(work.path): \(error.localizedDescription)")
        }
        defer { try? manager.removeItem(at: work) }

        // 1. merge_config.sh over the fragment files (fragments without a file are written out).
        var files: [String] = []
        for (offset, fragment) in plan.fragments.enumerated() {
            if let file = fragment.file {
                files.append(file)
            } else {
                let url = work.appendingPathComponent("fragment-\(offset).conf")
                try write(fragment.entries.map(\.line).joined(separator: "\n") + "\n", to: url)
                files.append(url.path)
            }
        }
        let base = work.appendingPathComponent("base.conf")
        try write("", to: base)
        let mergeLog = try KernelTool("sh", [source.root.appendingPathComponent("scripts/kconfig/merge_config.sh").path,
                                              "-m", "-O", work.path, base.path] + files, in: work).output()
        let merged = work.appendingPathComponent("merged.config")
        do {
            try manager.moveItem(at: work.appendingPathComponent(".config"), to: merged)
        } catch {
            throw ComposeKernelError("merge_config.sh wrote no \(work.path)/.config:\n\(mergeLog)")
        }
        try checkAgreement(plan.request, mergedFile: merged)

        // 2. allnoconfig with the merge as the fixed part, then olddefconfig.
        let objects = kconfigDirectory
        let lock = try FileLock(objects.appendingPathExtension("lock"))
        defer { _ = lock }
        try? manager.createDirectory(at: objects, withIntermediateDirectories: true)
        let final = work.appendingPathComponent("final.config")
        let common = makeArguments(objectDirectory: objects) + ["KCONFIG_CONFIG=\(final.path)"]
        _ = try KernelTool("make", common + ["KCONFIG_ALLCONFIG=\(merged.path)", "allnoconfig"]).output()
        _ = try KernelTool("make", common + ["olddefconfig"]).output()
        guard let text = try? String(contentsOf: final, encoding: .utf8) else {
            throw ComposeKernelError("make olddefconfig wrote no \(final.path)")
        }
        let config = DotConfig(text: text)
        let caveat = KernelArch.host != arch && crossCompile == nil
            ? "no \(arch.debianCrossPrefix)gcc on PATH: Kconfig's compiler tests ran against the host compiler, so toolchain-dependent options (CC_HAS_*, AS_HAS_*) may differ from a real \(arch.rawValue) build"
            : nil
        return ResolvedConfig(plan: plan, configText: text, config: config,
                              dropped: validation.dropped(plan.request, in: config), mergeLog: mergeLog, caveat: caveat)
    }

    /// Our merge and merge_config.sh's must agree symbol by symbol.
    private func checkAgreement(_ request: ConfigRequest, mergedFile: URL) throws(ComposeKernelError) {
        let text = (try? String(contentsOf: mergedFile, encoding: .utf8)) ?? ""
        let theirs = ConfigRequest(merging: [try KernelFragment(name: "merged", path: mergedFile.path, text: text)])
        var differences: [String] = []
        for entry in request.entries where theirs[entry.symbol]?.value != entry.value {
            differences.append("CONFIG_\(entry.symbol): ours \(entry.value), merge_config.sh \(theirs[entry.symbol].map { "\($0.value)" } ?? "absent")")
        }
        for entry in theirs.entries where request[entry.symbol] == nil {
            differences.append("CONFIG_\(entry.symbol): merge_config.sh \(entry.value), ours absent")
        }
        if !differences.isEmpty {
            throw ComposeKernelError("merge_config.sh merged the fragments differently:\n  " + differences.prefix(10).joined(separator: "\n  "))
        }
    }
}

func write(_ text: String, to url: URL) throws(ComposeKernelError) {
    do {
        try text.write(to: url, atomically: false, encoding: .utf8)
    } catch {
        throw ComposeKernelError("cannot write \(url.path): \(error.localizedDescription)")
    }
}
