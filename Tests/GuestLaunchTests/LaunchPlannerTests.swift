// From a manifest's layout, kernels and settings to each VMM's VM: the kernel each one boots (a
// placeholder and a note when the manifest has none of its kinds, never a silent fallback), the root's
// attachment, kvmtool's vsock device.
import ComposeImage
import GuestLaunch
import Testing

struct LaunchPlannerTests {
    static func planner(kernels: [(kind: String, path: String)], dax: Bool = true, vsock: String = "bridge") -> LaunchPlanner {
        let image = ImageManifest.ImageInfo(file: "rootfs.img", format: "ext4", size: 64 << 20, sha256: "", uuid: nil, label: nil,
                                            compression: nil, dax: dax, daxHeader: false, filesystemOffset: 0, pfnDataOffset: nil,
                                            rootDevicePmem: "/dev/pmem0", rootDeviceBlock: "/dev/vda", sourceDateEpoch: 0)
        var options = LaunchOptions()
        options.vsock = vsock
        options.vsockPath = "/run/vm/rootfs.img.vsock"
        return LaunchPlanner(image: image, imagePath: "/images/rootfs.img",
                             kernels: kernels.map { .init(path: $0.path, kind: $0.kind, size: 1, sha256: "") },
                             options: options, agentPath: "/sbin/guest-agent")
    }

    @Test func firecrackerAndCloudHypervisorNeverFallBackToABzImage() throws {
        let planner = Self.planner(kernels: [("bzImage", "/k/bzImage")])
        for target in [LaunchTarget.firecracker, .cloudHypervisor] {
            let planned = planner.virtualMachine(for: target)
            #expect(planned.vm.kernel == "VMLINUX", "\(target)")
            #expect(planned.notes.count == 1 && planned.notes[0].contains("bzImage /k/bzImage"), "\(planned.notes)")
        }
        #expect(try planner.firecracker().bootSource.kernelImagePath == "VMLINUX")
        #expect(planner.virtualMachine(for: .qemuQ35).vm.kernel == "/k/bzImage")
        #expect(planner.virtualMachine(for: .qemuQ35).notes.isEmpty)
    }

    @Test func eachVMMGetsTheKernelKindItBoots() {
        let planner = Self.planner(kernels: [("vmlinux", "/k/vmlinux"), ("bzImage", "/k/bzImage")])
        let expected: [(LaunchTarget, String)] = [(.qemuQ35, "/k/bzImage"), (.qemuMicrovm, "/k/vmlinux"), (.firecracker, "/k/vmlinux"),
                                                  (.cloudHypervisor, "/k/vmlinux"), (.kvmtool, "/k/bzImage")]
        for (target, kernel) in expected {
            let planned = planner.virtualMachine(for: target)
            #expect(planned.vm.kernel == kernel && planned.notes.isEmpty, "\(target): \(planned)")
        }
        #expect(planner.notes().isEmpty)
    }

    @Test func kvmtoolGetsAVsockDeviceByDefault() throws {
        let argv = try Self.planner(kernels: [("bzImage", "/k/bzImage")]).kvmtool()
        let index = try #require(argv.firstIndex(of: "--vsock"))
        #expect(argv[index + 1] == "3")
        #expect(try !Self.planner(kernels: [], vsock: "none").kvmtool().contains("--vsock"))
    }

    @Test func aDaxImageIsPmemWhereTheVMMCanMapIt() {
        let planner = Self.planner(kernels: [("vmlinux", "/k/vmlinux")])
        let attachments = LaunchTarget.allCases.map { planner.virtualMachine(for: $0).vm.rootDisk?.attachment }
        #expect(attachments == [.pmem, .block, .pmem, .pmem, .block])
        let blockOnly = Self.planner(kernels: [("vmlinux", "/k/vmlinux")], dax: false)
        #expect(LaunchTarget.allCases.allSatisfy { blockOnly.virtualMachine(for: $0).vm.rootDisk?.attachment == .block })
    }

    @Test func theConsoleIsQuietUnlessTheKernelLogIsAskedFor() {
        var planner = Self.planner(kernels: [("vmlinux", "/k/vmlinux")])
        for target in LaunchTarget.allCases {
            let words = planner.cmdline(for: target).split(separator: " ")
            #expect(words.prefix(2) == ["console=ttyS0", "quiet"], "\(target): \(words)")
        }
        var options = planner.options
        options.kernelLog = true
        options.extraCmdline = ["loglevel=7"]
        planner = LaunchPlanner(image: planner.image, imagePath: planner.imagePath, kernels: planner.kernels, options: options,
                                agentPath: planner.agentPath)
        for target in LaunchTarget.allCases {
            let words = planner.cmdline(for: target).split(separator: " ")
            #expect(!words.contains("quiet") && words.last == "loglevel=7", "\(target): \(words)")
        }
    }

    @Test func freePageReportingIsOnUnlessTheSettingsTurnItOff() {
        let planner = Self.planner(kernels: [("bzImage", "/k/bzImage")])
        #expect(planner.virtualMachine(for: .qemuQ35).vm.freePageReporting)
        var options = planner.options
        options.freePageReporting = false
        let off = LaunchPlanner(image: planner.image, imagePath: planner.imagePath, kernels: planner.kernels, options: options,
                                agentPath: planner.agentPath)
        #expect(!off.virtualMachine(for: .qemuQ35).vm.freePageReporting)
        #expect(!off.qemu(machine: .q35).contains { $0.contains("balloon") })
    }

    @Test func qemuGuestsGetTheAPICTimerClockAndOneCPUGuestsKeepTheirLockPrefixes() {
        let planner = Self.planner(kernels: [("vmlinux", "/k/vmlinux")])
        for target in LaunchTarget.allCases {
            let words = planner.cmdline(for: target).split(separator: " ")
            #expect(words.contains("lapic_timer_khz=1000000") == [.qemuQ35, .qemuMicrovm].contains(target), "\(target): \(words)")
            #expect(words.contains("noreplace-smp"), "\(target): \(words)")
        }
        var options = planner.options
        options.vcpus = 2
        let two = LaunchPlanner(image: planner.image, imagePath: planner.imagePath, kernels: planner.kernels, options: options,
                                agentPath: planner.agentPath)
        #expect(LaunchTarget.allCases.allSatisfy { !two.cmdline(for: $0).split(separator: " ").contains("noreplace-smp") })
    }
}
