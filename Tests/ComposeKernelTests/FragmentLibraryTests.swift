import Foundation
import GuestTestSupport
import Testing
@testable import ComposeKernel

/// The shipped `kernel-config/`: profiles resolve on both architectures without conflicts, `all`
/// covers every VMM, and every fragment explains its options.
struct FragmentLibraryTests {
    static let library = try! FragmentLibrary(root: BuiltProducts.packageRoot.appendingPathComponent("kernel-config"))
    static let vmms = ["firecracker", "cloud-hypervisor", "qemu-microvm", "qemu", "kvmtool"]

    @Test func listsTheProfiles() {
        #expect(Self.library.profileNames == ["all"] + Self.vmms.sorted())
    }

    @Test(arguments: ["all"] + vmms, KernelArch.allCases)
    func profileResolvesWithoutConflicts(profile: String, arch: KernelArch) throws {
        let plan = try Self.library.plan(arch: arch, profiles: [profile])
        #expect(plan.request.conflicts.map(\.description) == [])
        #expect(plan.fragmentNames.first == "base")
        #expect(plan.fragmentNames.contains("arch"))
        for required in ["VIRTIO_MENU", "VIRTIO_BLK", "VIRTIO_VSOCKETS", "SERIAL_8250_CONSOLE", "DEVTMPFS", "EXT4_FS", "CGROUPS"] {
            #expect(plan.request[required]?.value == .yes, "\(profile)/\(arch.rawValue) lacks \(required)")
        }
    }

    @Test(arguments: vmms)
    func allCoversEveryVMM(profile: String) throws {
        let all = try Self.library.fragmentNames(profiles: ["all"])
        for name in try Self.library.fragmentNames(profiles: [profile]) {
            #expect(all.contains(name), "all lacks \(name) of \(profile)")
        }
    }

    @Test func contractOptionsAreInAll() throws {
        let plan = try Self.library.plan(arch: .x86_64, profiles: ["all"])
        // What every VMM profile needs: virtio-pci/mmio, blk, pmem + DAX, ext4/erofs/overlay, vsock, 8250/hvc, PVH.
        for symbol in ["VIRTIO_PCI", "VIRTIO_MMIO", "VIRTIO_MMIO_CMDLINE_DEVICES", "VIRTIO_BLK", "VIRTIO_PMEM", "FS_DAX",
                       "BLK_DEV_PMEM", "EXT4_FS", "EROFS_FS", "OVERLAY_FS", "VSOCKETS", "VIRTIO_VSOCKETS",
                       "SERIAL_8250_CONSOLE", "VIRTIO_CONSOLE", "PVH", "DEVMEM", "UNIX98_PTYS", "SIGNALFD", "TMPFS"] {
            #expect(plan.request[symbol]?.value == .yes, "all lacks \(symbol)")
        }
        #expect(plan.request["MODULES"] == nil)
    }

    /// Each option sits in a block (lines between blank lines) that starts with a comment saying why,
    /// and no comment spells CONFIG_<name> (merge_config.sh greps whole lines for it).
    @Test func everyFragmentExplainsItsOptions() throws {
        for arch in KernelArch.allCases {
            for name in Self.library.fragmentNames(arch: arch) {
                for fragment in try Self.library.load(fragment: name, arch: arch) {
                    let lines = try String(contentsOfFile: try #require(fragment.file), encoding: .utf8)
                        .split(separator: "\n", omittingEmptySubsequences: false)
                    #expect(lines.first?.hasPrefix("# ") == true, "\(fragment.path) has no header comment")
                    #expect(fragment.commentsNamingSymbols == [], "\(fragment.path): comments name CONFIG_ symbols")
                    // The header may explain the first block of options of a small fragment.
                    var blockHasComment = false
                    var seenOptions = false
                    for (index, line) in lines.enumerated() {
                        if line.isEmpty {
                            if seenOptions { blockHasComment = false }
                            continue
                        }
                        if line.hasPrefix("#") && !line.hasSuffix("is not set") { blockHasComment = true; continue }
                        #expect(blockHasComment, "\(fragment.path):\(index + 1) has no comment saying why")
                        seenOptions = true
                    }
                }
            }
        }
    }

    @Test func withAndWithoutChangeThePlan() throws {
        let scratch = try ScratchDirectory("fragment-with")
        let extra = scratch.file("quiet.conf")
        try "# quieter boots\n# CONFIG_PRINTK_TIME is not set\n".write(toFile: extra, atomically: true, encoding: .utf8)
        let plan = try Self.library.plan(arch: .x86_64, profiles: ["qemu"], with: ["debug", extra], without: ["network"])
        #expect(!plan.fragmentNames.contains("network"))
        #expect(plan.fragmentNames.last == "debug")
        #expect(plan.request["NETFILTER"] == nil)
        #expect(plan.request["IKCONFIG"]?.value == .yes)
        #expect(plan.request["PRINTK_TIME"]?.value == ConfigValue.no)
        let conflict = try #require(plan.request.conflicts.first)
        #expect(conflict.description == "CONFIG_PRINTK_TIME: y at kernel-config/common/base.conf:8 overridden by n at \(extra):2")
    }

    @Test(arguments: [
        (["qemu-mircovm"], [String](), [String](), "unknown VMM profile 'qemu-mircovm' (did you mean qemu-microvm?)"),
        (["qemu"], ["vsok"], [], "unknown fragment 'vsok' for x86_64 (did you mean vsock?)"),
        (["qemu"], [], ["virtio-mmio"], "--without virtio-mmio: not a fragment of qemu"),
        ([], [], [], "no VMM profile given"),
    ])
    func rejectsBadSelections(profiles: [String], with: [String], without: [String], message: String) {
        #expect {
            _ = try Self.library.plan(arch: .x86_64, profiles: profiles, with: with, without: without)
        } throws: { error in
            "\(error)".hasPrefix(message)
        }
    }

    @Test func rejectsIncludeCycles() throws {
        let scratch = try ScratchDirectory("fragment-cycle")
        let profiles = scratch.url.appendingPathComponent("profiles")
        try FileManager.default.createDirectory(at: profiles, withIntermediateDirectories: true)
        try "include b\n".write(to: profiles.appendingPathComponent("a.profile"), atomically: true, encoding: .utf8)
        try "base\ninclude a\n".write(to: profiles.appendingPathComponent("b.profile"), atomically: true, encoding: .utf8)
        let library = try FragmentLibrary(root: scratch.url)
        #expect(throws: ComposeKernelError("profile include cycle: a -> b -> a")) {
            _ = try library.fragmentNames(profiles: ["a"])
        }
    }
}
