// Building the kernel of a plan out of tree, cached. The cache key is a hash of the source tree's
// identity, the architecture, the compiler, extra make arguments and the merged request: those fix
// the final .config, so a second run with the same inputs copies the cached kernel without running
// make at all. Object directories are kept per plan, so a changed fragment rebuilds only what it
// touches. Nothing appears at the output path until the whole kernel is there (temp dir + rename).
import ContentHash
import Foundation
import HostProcess

/// What a kernel build produced, stored as `kernel.json` beside the images.
public struct BuiltKernel: Codable, Sendable, Equatable {
    public var version: String
    public var arch: String
    public var profiles: [String]
    public var fragments: [String]
    public var key: String
    /// `bzImage` (x86_64) or `Image` (arm64).
    public var bootImage: String
    public var bootImageBytes: Int64
    public var vmlinuxBytes: Int64
    public var builtIn: Int
    public var modules: Int
    public var dropped: Int
    public var buildSeconds: Double
    public var objects: Int
    /// Whether the build started from an empty object directory (its time is a full build's).
    public var fromScratch: Bool
}

/// How a build went, for progress lines.
public struct BuildProgress: Sendable {
    public let objects: Int
    public let estimate: Int
    public let elapsed: Double
}

/// Builds kernels for plans, with a cache.
public struct KernelBuilder: Sendable {
    public let configurator: KernelConfigurator
    public var jobs = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// Extra `VAR=value` arguments for make (`KCFLAGS=…`, `LLVM=1`); part of the cache key.
    public var makeVariables: [String] = []
    public var allowDropped = false
    /// Ignore a cached kernel and build again.
    public var rebuild = false

    public init(configurator: KernelConfigurator) { self.configurator = configurator }

    var cache: URL { configurator.cache }

    /// The cache key of a plan.
    public func key(for plan: FragmentPlan) throws(ComposeKernelError) -> String {
        let compiler = "\(configurator.crossCompile ?? "")gcc"
        let version = (try? KernelTool(compiler, ["--version"]).output())?.split(separator: "\n").first.map(String.init) ?? "no \(compiler)"
        let inputs = ["guestkit-kernel-1", configurator.source.identity, plan.arch.rawValue, configurator.crossCompile ?? "",
                      version, makeVariables.joined(separator: " ")]
            + plan.request.entries.map(\.line).sorted()  // the order of distinct symbols does not change the result
        return SHA256Hex.of(text: inputs.joined(separator: "\n"))
    }

    /// The cached kernel of a plan, if there is one (no make, no build).
    public func cached(_ plan: FragmentPlan) throws(ComposeKernelError) -> BuiltKernel? {
        let key = try key(for: plan)
        return readMetadata(cache.appendingPathComponent("kernels").appendingPathComponent("\(plan.arch.rawValue)-\(key.prefix(16))"))
    }

    /// Builds (or fetches from the cache) the kernel of a plan and installs it at `output`:
    /// `<bootImage>`, `vmlinux`, `config`, `build.log`, `kernel.json`. Returns the kernel and whether
    /// it came from the cache.
    public func build(_ plan: FragmentPlan, output: URL, message: (String) -> Void = { _ in },
                      progress: (BuildProgress) -> Void = { _ in }) throws(ComposeKernelError) -> (BuiltKernel, cached: Bool) {
        let key = try key(for: plan)
        let entry = cache.appendingPathComponent("kernels").appendingPathComponent("\(plan.arch.rawValue)-\(key.prefix(16))")
        if !rebuild, let cached = readMetadata(entry), cached.dropped == 0 || allowDropped {
            try install(from: entry, to: output, bootImage: cached.bootImage)
            return (cached, true)
        }
        guard plan.arch == KernelArch.host || configurator.crossCompile != nil else {
            throw ComposeKernelError(
                "cannot build an \(plan.arch.rawValue) kernel here: no \(plan.arch.debianCrossPrefix)gcc (install gcc-\(plan.arch.debianCrossPrefix.dropLast()))")
        }
        message("configuring \(configurator.source.name) for \(plan.arch.rawValue) (\(plan.profiles.joined(separator: ",")))")
        let resolved = try configurator.resolve(plan)
        if !resolved.dropped.isEmpty && !allowDropped {
            throw ComposeKernelError(
                "\(resolved.dropped.count) requested option(s) did not survive olddefconfig:\n  "
                    + resolved.dropped.map(\.description).joined(separator: "\n  ")
                    + "\nfix the fragments or pass --allow-dropped")
        }

        let objects = objectDirectory(plan)
        let lock = try FileLock(objects.appendingPathExtension("lock"))
        defer { _ = lock }
        let manager = FileManager.default
        try? manager.createDirectory(at: objects, withIntermediateDirectories: true)
        let fromScratch = !manager.fileExists(atPath: objects.appendingPathComponent("vmlinux").path)
        try write(resolved.configText, to: objects.appendingPathComponent(".config"))
        let logs = cache.appendingPathComponent("logs")
        try? manager.createDirectory(at: logs, withIntermediateDirectories: true)
        let log = logs.appendingPathComponent("\(plan.arch.rawValue)-\(key.prefix(16)).log")
        try? manager.removeItem(at: log)
        let countFile = objects.appendingPathComponent(".guestkit-objects")
        let estimate = (try? String(contentsOf: countFile, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            ?? resolved.config.builtInCount * 2
        var counter = ObjectCounter(log: log)
        let started = Date()
        let arguments = configurator.makeArguments(objectDirectory: objects) + makeVariables
            + ["-j\(jobs)", plan.arch.bootImage.target, "vmlinux"]
        message("building in \(objects.path) (log: \(log.path))")
        let status = try KernelTool("make", arguments).run(log: log) {
            counter.update()
            progress(BuildProgress(objects: counter.objects, estimate: max(estimate, counter.objects),
                                   elapsed: Date().timeIntervalSince(started)))
        }
        counter.update()
        let seconds = Date().timeIntervalSince(started)
        guard status == 0 else {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            let tail = lines.suffix(40).joined(separator: "\n")
            // With -j the failing command's message can be far above the tail (other jobs carry on until
            // make stops them): name the first error on the first line.
            let firstError = lines.first { $0.contains("error:") || $0.contains("Error: ") }
                .map { "; first error: \($0.trimmingCharacters(in: .whitespaces))" } ?? ""
            throw ComposeKernelError("kernel build failed (make exit \(status))\(firstError); last 40 lines of \(log.path):\n\(tail)\nfull log: \(log.path)")
        }
        if fromScratch { try? write("\(counter.objects)\n", to: countFile) }

        let built = BuiltKernel(
            version: configurator.source.version, arch: plan.arch.rawValue, profiles: plan.profiles,
            fragments: plan.fragments.map(\.path), key: key, bootImage: plan.arch.bootImage.target,
            bootImageBytes: size(objects.appendingPathComponent(plan.arch.bootImage.path)),
            vmlinuxBytes: size(objects.appendingPathComponent("vmlinux")),
            builtIn: resolved.config.builtInCount, modules: resolved.config.moduleCount, dropped: resolved.dropped.count,
            buildSeconds: seconds, objects: counter.objects, fromScratch: fromScratch)
        try store(built, objects: objects, log: log, entry: entry)
        try install(from: entry, to: output, bootImage: built.bootImage)
        return (built, false)
    }

    /// One object directory per plan (profiles and fragment files), reused across rebuilds.
    public func objectDirectory(_ plan: FragmentPlan) -> URL {
        let identity = [configurator.source.identity, configurator.crossCompile ?? "", makeVariables.joined(separator: " ")]
            + plan.profiles + plan.fragments.map(\.path)
        let name = "\(plan.arch.rawValue)-\(plan.profiles.joined(separator: "+"))-\(SHA256Hex.of(text: identity.joined(separator: "\n")).prefix(10))"
        return cache.appendingPathComponent("build").appendingPathComponent(name)
    }

    /// The cached kernel's metadata, if the entry is complete.
    func readMetadata(_ entry: URL) -> BuiltKernel? {
        guard let data = FileManager.default.contents(atPath: entry.appendingPathComponent("kernel.json").path) else { return nil }
        return try? JSONDecoder().decode(BuiltKernel.self, from: data)
    }

    private func store(_ built: BuiltKernel, objects: URL, log: URL, entry: URL) throws(ComposeKernelError) {
        let staging = entry.deletingLastPathComponent().appendingPathComponent(".staging-\(UUID().uuidString.prefix(8))")
        let cleanup = TerminationSignals.onTermination { try? FileManager.default.removeItem(at: staging) }
        defer { TerminationSignals.cancel(cleanup) }
        let files = [
            (objects.appendingPathComponent(KernelArch(rawValue: built.arch)!.bootImage.path), built.bootImage),
            (objects.appendingPathComponent("vmlinux"), "vmlinux"),
            (objects.appendingPathComponent(".config"), "config"),
            (log, "build.log"),
        ]
        do {
            let manager = FileManager.default
            try manager.createDirectory(at: staging, withIntermediateDirectories: true)
            for (source, name) in files { try manager.copyItem(at: source, to: staging.appendingPathComponent(name)) }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(built).write(to: staging.appendingPathComponent("kernel.json"))
            try? manager.removeItem(at: entry)
            try manager.moveItem(at: staging, to: entry)
        } catch {
            try? FileManager.default.removeItem(at: staging)
            throw ComposeKernelError("cannot store the kernel in the cache \(entry.path): \(error.localizedDescription)")
        }
    }

    /// Copies a cache entry to `output` through a temporary sibling, then swaps it in.
    private func install(from entry: URL, to output: URL, bootImage: String) throws(ComposeKernelError) {
        let manager = FileManager.default
        let parent = output.deletingLastPathComponent()
        let staging = parent.appendingPathComponent(".\(output.lastPathComponent).tmp-\(UUID().uuidString.prefix(8))")
        let old = parent.appendingPathComponent(".\(output.lastPathComponent).old-\(UUID().uuidString.prefix(8))")
        let cleanup = TerminationSignals.onTermination {
            try? FileManager.default.removeItem(at: staging)
            if !FileManager.default.fileExists(atPath: output.path), FileManager.default.fileExists(atPath: old.path) {
                try? FileManager.default.moveItem(at: old, to: output)
            }
        }
        defer { TerminationSignals.cancel(cleanup) }
        do {
            try manager.createDirectory(at: staging, withIntermediateDirectories: true)
            for name in [bootImage, "vmlinux", "config", "build.log", "kernel.json"] {
                try manager.copyItem(at: entry.appendingPathComponent(name), to: staging.appendingPathComponent(name))
            }
            if manager.fileExists(atPath: output.path) { try manager.moveItem(at: output, to: old) }
            try manager.moveItem(at: staging, to: output)
            try? manager.removeItem(at: old)
        } catch {
            try? manager.removeItem(at: staging)
            if !manager.fileExists(atPath: output.path), manager.fileExists(atPath: old.path) {
                try? manager.moveItem(at: old, to: output)
            }
            throw ComposeKernelError("cannot install the kernel at \(output.path): \(error.localizedDescription)")
        }
    }

    private func size(_ url: URL) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.int64Value ?? 0
    }
}

/// Counts the objects a Kbuild log reports compiled (`  CC      kernel/fork.o`, `  AS …`), reading
/// only what was appended since the last look.
struct ObjectCounter {
    let log: URL
    private(set) var objects = 0
    private var offset: UInt64 = 0
    private var partial: [UInt8] = []

    init(log: URL) { self.log = log }

    mutating func update() {
        guard let handle = try? FileHandle(forReadingFrom: log) else { return }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: offset)) != nil, let data = try? handle.readToEnd(), !data.isEmpty else { return }
        offset += UInt64(data.count)
        var line = partial
        for byte in data {
            if byte == 0x0a {
                if ObjectCounter.isObjectLine(line) { objects += 1 }
                line.removeAll(keepingCapacity: true)
            } else {
                line.append(byte)
            }
        }
        partial = line
    }

    static func isObjectLine(_ line: [UInt8]) -> Bool {
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("  CC ") || text.hasPrefix("  AS ") else { return false }
        return text.hasSuffix(".o")
    }
}
