// `compose-guest kernel-config` and `compose-guest kernel`: option parsing and output only; the work is
// in ComposeKernel.
import ArgumentParser
import ComposeKernel
import Foundation

/// The options both kernel subcommands share: which fragments, which tree, which cache.
struct KernelSelection: ParsableArguments {
    @Option(help: "Guest architecture: x86_64 or arm64.")
    var arch = "x86_64"

    @Option(help: "VMM profiles, comma-separated: firecracker, cloud-hypervisor, qemu-microvm, qemu, kvmtool, or all.")
    var vmm = "all"

    @Option(name: .customLong("with"), help: "Add a fragment by name, or a fragment file by path (repeatable; merged last, so it overrides).")
    var extraFragments: [String] = []

    @Option(help: "Leave out one of the profiles' fragments by name (repeatable).")
    var without: [String] = []

    @Option(help: "The kernel-config directory (default: found above the current directory or the executable).")
    var fragments: String?

    @Option(help: "A clean kernel source tree to resolve and build against.")
    var source: String?

    @Flag(help: "Use Debian's linux-source package (/usr/src/linux-source-*.tar.xz), unpacked once into the cache.")
    var debianSource = false

    @Option(help: "Cache for unpacked sources, kconfig tools, object directories and built kernels (default: $XDG_CACHE_HOME/guestkit or ~/.cache/guestkit).")
    var cacheDir: String?

    @Flag(help: "Accept requested options that did not survive olddefconfig (they are still reported).")
    var allowDropped = false

    func validate() throws {
        if source != nil && debianSource { throw ValidationError("give --source DIR or --debian-source, not both") }
    }

    var cache: URL { cacheDir.map { URL(fileURLWithPath: $0) } ?? KernelSource.defaultCache }

    func plan() throws -> FragmentPlan {
        let library = try FragmentLibrary.locate(fragments)
        let profiles = vmm.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return try library.plan(arch: try KernelArch(parsing: arch), profiles: profiles, with: extraFragments, without: without)
    }

    /// The source tree, if one was asked for.
    func kernelSource() throws -> KernelSource? {
        if let source { return try KernelSource(directory: URL(fileURLWithPath: source)) }
        if debianSource {
            return try KernelSource.debian(cache: cache, patches: FragmentLibrary.locate(fragments).patches()) { note($0) }
        }
        return nil
    }
}

/// Writes a line to stderr (progress and notes; results go to stdout).
func note(_ text: String) {
    fflush(nil)  // results printed so far go out before the note
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

func describePlan(_ plan: FragmentPlan) {
    print("\(plan.arch.rawValue), profile \(plan.profiles.joined(separator: ",")): \(plan.fragmentNames.count) fragments (\(plan.fragmentNames.joined(separator: " "))), \(plan.request.entries.count) options requested")
    for conflict in plan.request.conflicts { print("conflict: \(conflict)") }
}

func mebibytes(_ bytes: Int64) -> String { String(format: "%.2f MiB", Double(bytes) / 1_048_576) }

func duration(_ seconds: Double) -> String {
    let whole = Int(seconds.rounded())
    return whole >= 60 ? "\(whole / 60)m\(String(format: "%02d", whole % 60))s" : "\(whole)s"
}

struct KernelConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernel-config",
        abstract: "Merge the Kconfig fragments of VMM profiles and, given a source tree, resolve and validate them.",
        discussion: """
            Starts from allnoconfig, merges the profiles' fragments with the tree's scripts/kconfig/merge_config.sh, \
            runs olddefconfig, and checks that every requested value holds in the final .config; each one that did \
            not is reported with the reason read from the tree's Kconfig, and the command fails unless \
            --allow-dropped. Without --source or --debian-source it writes the merged request, unvalidated.
            """)

    @OptionGroup var selection: KernelSelection

    @Option(name: .shortAndLong, help: "Where to write the .config (or the merged request without a tree).")
    var output: String?

    @Flag(help: "List the profiles and fragments and exit.")
    var list = false

    func run() throws {
        if list {
            let library = try FragmentLibrary.locate(selection.fragments)
            let arch = try KernelArch(parsing: selection.arch)
            print("profiles: \(library.profileNames.joined(separator: ", "))")
            for profile in library.profileNames {
                print("  \(profile): \(try library.fragmentNames(profiles: [profile]).joined(separator: " "))")
            }
            print("fragments (\(arch.rawValue)): \(library.fragmentNames(arch: arch).joined(separator: ", "))")
            return
        }
        guard let output else { throw ValidationError("missing -o PATH") }
        let plan = try selection.plan()
        describePlan(plan)
        let destination = URL(fileURLWithPath: output)
        guard let source = try selection.kernelSource() else {
            let header = """
                # Merged request of \(plan.profiles.joined(separator: ",")) for \(plan.arch.rawValue): UNVALIDATED.
                # Not resolved against a kernel tree; run with --source DIR or --debian-source to check that
                # every value survives olddefconfig.

                """
            try writeAtomically(header + plan.request.text, to: destination)
            print("unvalidated: no kernel tree given; wrote the merged request (\(plan.request.entries.count) options) to \(output)")
            return
        }
        let configurator = try KernelConfigurator(source: source, arch: plan.arch, cache: selection.cache)
        let resolved = try configurator.resolve(plan)
        if let caveat = resolved.caveat { note("note: \(caveat)") }
        for dropped in resolved.dropped { note("dropped: \(dropped)") }
        print("validated against \(source.name) (\(source.root.path)): \(resolved.config.builtInCount) =y, \(resolved.config.moduleCount) =m, \(resolved.dropped.count) dropped")
        if !resolved.dropped.isEmpty && !selection.allowDropped {
            throw ComposeKernelError("\(resolved.dropped.count) requested option(s) dropped; fix the fragments or pass --allow-dropped (nothing written to \(output))")
        }
        try writeAtomically(resolved.configText, to: destination)
        print("wrote \(output)")
    }

    private func writeAtomically(_ text: String, to url: URL) throws {
        let staging = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        try text.write(to: staging, atomically: false, encoding: .utf8)
        if rename(staging.path, url.path) != 0 {
            let code = errno
            try? FileManager.default.removeItem(at: staging)
            throw ComposeKernelError("cannot rename \(staging.path) to \(url.path): errno \(code)")
        }
    }
}

struct KernelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernel",
        abstract: "Configure, validate and build the guest kernel (bzImage and vmlinux on x86_64), cached.",
        discussion: """
            Writes <boot image>, vmlinux, config, build.log and kernel.json into the output directory, all at once. \
            The build is cached by a hash of the source version, the compiler and the merged request: a second run \
            with the same inputs returns at once.
            """)

    @OptionGroup var selection: KernelSelection

    @Option(name: .shortAndLong, help: "Output directory.")
    var output: String

    @Option(help: "Parallel make jobs (default: the number of CPUs).")
    var jobs: Int?

    @Option(name: .customLong("make-var"), help: "Extra VAR=value for make, e.g. KCFLAGS=-g (repeatable; part of the cache key).")
    var makeVariables: [String] = []

    @Flag(help: "Build even if the cache has this kernel.")
    var rebuild = false

    func run() throws {
        let plan = try selection.plan()
        describePlan(plan)
        guard let source = try selection.kernelSource() else {
            throw ValidationError("building needs a kernel tree: pass --source DIR or --debian-source")
        }
        for variable in makeVariables where !variable.contains("=") {
            throw ValidationError("--make-var \(variable): expected VAR=value")
        }
        var builder = KernelBuilder(configurator: try KernelConfigurator(source: source, arch: plan.arch, cache: selection.cache))
        if let jobs { builder.jobs = max(1, jobs) }
        builder.makeVariables = makeVariables
        builder.allowDropped = selection.allowDropped
        builder.rebuild = rebuild
        let interactive = isatty(STDERR_FILENO) != 0
        var lastLine = Date.distantPast
        let (kernel, cached) = try builder.build(plan, output: URL(fileURLWithPath: output), message: { note($0) }) { step in
            let line = "kernel: \(step.objects)/~\(step.estimate) objects, \(duration(step.elapsed))"
            if interactive {
                FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
            } else if Date().timeIntervalSince(lastLine) >= 30 {
                note(line)
                lastLine = Date()
            }
        }
        if interactive && !cached { note("") }
        let how = cached ? "from the cache" : "built in \(duration(kernel.buildSeconds)), \(kernel.objects) objects"
        print("kernel \(kernel.version) \(kernel.arch) (\(kernel.profiles.joined(separator: ","))): \(how)")
        print("  \(kernel.bootImage): \(mebibytes(kernel.bootImageBytes))")
        print("  vmlinux: \(mebibytes(kernel.vmlinuxBytes))")
        print("  config: \(kernel.builtIn) =y, \(kernel.modules) =m\(kernel.dropped > 0 ? ", \(kernel.dropped) dropped" : "")")
        print("  in \(output)")
    }
}
