import Foundation
import GuestTestSupport
import Testing
@testable import ComposeKernel

/// The real kernel tree: Debian's linux-source tarball unpacked into the same cache `make kernel`
/// uses (`GUESTKIT_KERNEL_CACHE`, else out/kernel-cache), so the tree is unpacked once per checkout.
/// `GUESTKIT_KERNEL_SOURCE` points the tests at another clean tree instead.
enum RealTree {
    static let cache: URL = {
        if let path = ProcessInfo.processInfo.environment["GUESTKIT_KERNEL_CACHE"] { return URL(fileURLWithPath: path) }
        return BuiltProducts.packageRoot.appendingPathComponent("out/kernel-cache")
    }()

    static var available: Bool {
        ProcessInfo.processInfo.environment["GUESTKIT_KERNEL_SOURCE"] != nil
            || ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/src")) ?? []).contains {
                $0.hasPrefix("linux-source-") && $0.hasSuffix(".tar.xz")
            }
    }

    // Static lets are initialised once, thread-safely, on first use: one unpack and one Kconfig parse
    // per architecture for the whole run.
    static let source = Result { () throws(ComposeKernelError) -> KernelSource in
        if let path = ProcessInfo.processInfo.environment["GUESTKIT_KERNEL_SOURCE"] {
            return try KernelSource(directory: URL(fileURLWithPath: path))
        }
        return try KernelSource.debian(cache: cache, patches: FragmentLibraryTests.library.patches())
    }
    static let x86_64 = Result { () throws(ComposeKernelError) in
        try KernelConfigurator(source: source.get(), arch: .x86_64, cache: cache)
    }
    static let arm64 = Result { () throws(ComposeKernelError) in
        try KernelConfigurator(source: source.get(), arch: .arm64, cache: cache)
    }

    /// "linux X.Y.Z" as the tree's Makefile names it, for messages the tests expect.
    static func name() throws -> String { try source.get().name }

    /// `path:N` of the first line of a tree file that is exactly `line`, read from the tree (line
    /// numbers move between kernel releases).
    static func location(of line: String, in path: String) throws -> String {
        let text = try String(contentsOf: source.get().root.appendingPathComponent(path), encoding: .utf8)
        let number = try #require(text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0 == line },
                                  "no line \"\(line)\" in \(path)")
        return "\(path):\(number + 1)"
    }

    static func configurator(_ arch: KernelArch) throws -> KernelConfigurator {
        switch arch {
        case .x86_64: try x86_64.get()
        case .arm64: try arm64.get()
        }
    }
}

@Suite
struct RealTreeTests {
    init() throws {
        try #require(RealTree.available, "needs /usr/src/linux-source-*.tar.xz (make deps) or GUESTKIT_KERNEL_SOURCE")
    }

    @Test(arguments: KernelArch.allCases)
    func kconfigParsesCleanly(arch: KernelArch) throws {
        let tree = try RealTree.configurator(arch).tree
        #expect(tree.warnings == [])
        #expect(tree.fileCount > 1000)
        #expect(tree.definitions.count > 10_000)
        #expect(tree.definitions["VIRTIO_PMEM"]?.first?.location.path == "drivers/virtio/Kconfig")
    }

    /// Every profile, on both architectures, keeps every requested value (and our merge equals
    /// merge_config.sh's, which `resolve` checks).
    @Test(arguments: ["all", "firecracker", "cloud-hypervisor", "qemu-microvm", "qemu", "kvmtool"], KernelArch.allCases)
    func profileValidatesWithNothingDropped(profile: String, arch: KernelArch) throws {
        let configurator = try RealTree.configurator(arch)
        let plan = try FragmentLibraryTests.library.plan(arch: arch, profiles: [profile])
        let resolved = try configurator.resolve(plan)
        #expect(resolved.dropped.map(\.description) == [])
        #expect(resolved.config.builtInCount > 500)
        #expect(resolved.config.moduleCount == 0)
        #expect(resolved.config["PRINTK"] == .yes)
        if arch == .x86_64 {
            #expect(resolved.caveat == nil)
            #expect(resolved.config["PVH"] == .yes)
        }
    }

    /// The example: erofs without MISC_FILESYSTEMS is rejected with that dependency named.
    @Test func unsatisfiableFragmentIsExplained() throws {
        let configurator = try RealTree.configurator(.x86_64)
        let scratch = try ScratchDirectory("unsatisfiable")
        let fragment = scratch.file("no-misc.conf")
        try """
            # erofs, but without the menu it lives in
            # CONFIG_MISC_FILESYSTEMS is not set
            CONFIG_EROFS_FS=y
            # a typo
            CONFIG_VIRTIO_BLOK=y
            # an arm64-only option
            CONFIG_ARM64_4K_PAGES=y
            # serial needs its core
            # CONFIG_SERIAL_CORE is not set
            """.write(toFile: fragment, atomically: true, encoding: .utf8)
        let plan = try FragmentLibraryTests.library.plan(arch: .x86_64, profiles: ["kvmtool"], with: [fragment])
        #expect(plan.request.conflicts.map(\.description) == [
            "CONFIG_MISC_FILESYSTEMS: y at kernel-config/common/filesystems.conf:8 overridden by n at \(fragment):2",
        ])
        let resolved = try configurator.resolve(plan)
        let reasons = Dictionary(uniqueKeysWithValues: resolved.dropped.map { ($0.requested.symbol, $0.reason) })
        let linux = try RealTree.name()
        let miscFilesystems = try RealTree.location(of: "if MISC_FILESYSTEMS", in: "fs/Kconfig")
        #expect(reasons["EROFS_FS"] == "depends on MISC_FILESYSTEMS, which is n (through if MISC_FILESYSTEMS at \(miscFilesystems))")
        #expect(reasons["VIRTIO_BLOK"] == "no such symbol in \(linux); did you mean CONFIG_VIRTIO_BLK?")
        #expect(reasons["ARM64_4K_PAGES"]?.hasPrefix("not defined for x86_64 (only in arch/arm64/Kconfig:") == true)
        #expect(reasons["SERIAL_CORE"]?.hasPrefix("selected by SERIAL_8250 (SERIAL_8250=y; drivers/tty/serial/8250/Kconfig") == true)
        // The fragments' other ~120 options still hold: only these four drop.
        #expect(Set(reasons.keys) == ["EROFS_FS", "VIRTIO_BLOK", "ARM64_4K_PAGES", "SERIAL_CORE"])
        #expect(resolved.dropped.first { $0.requested.symbol == "EROFS_FS" }?.description
            == "\(fragment):3: CONFIG_EROFS_FS=y dropped: depends on MISC_FILESYSTEMS, which is n (through if MISC_FILESYSTEMS at \(miscFilesystems))")
    }

    /// A dependency chain: the first link names the option to add; the later ones say it dropped too.
    @Test func dependencyChainNamesTheMissingLink() throws {
        let configurator = try RealTree.configurator(.x86_64)
        let plan = try FragmentLibraryTests.library.plan(arch: .x86_64, profiles: ["qemu"])
        let fragments = plan.fragments.map { fragment in
            KernelFragment(name: fragment.name, path: fragment.path, file: nil,
                           entries: fragment.entries.filter { $0.symbol != "MIGRATION" })
        }
        let resolved = try configurator.resolve(FragmentPlan(arch: .x86_64, profiles: ["qemu"], fragmentNames: plan.fragmentNames,
                                                             fragments: fragments))
        let reasons = Dictionary(uniqueKeysWithValues: resolved.dropped.map { ($0.requested.symbol, $0.reason) })
        #expect(reasons["MEMORY_HOTREMOVE"] == "depends on MIGRATION, which is n; MIGRATION is not requested: add CONFIG_MIGRATION=y")
        #expect(reasons["ZONE_DEVICE"]?.contains("MEMORY_HOTREMOVE was requested at kernel-config/common/dax.conf:") == true)
        #expect(reasons["FS_DAX"] != nil)
    }
}
