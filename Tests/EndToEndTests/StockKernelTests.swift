// The same image under Debian's stock linux-image-cloud-amd64, whose virtio-pci, virtio-pmem, nd_pmem and
// vsock transport are modules: the composed initramfs holds guest-init and those modules, init loads them
// with libkmod, finds the root by label with libblkid, mounts it with DAX, switches root and starts the
// agent from the new root; the host then runs a process in it over vsock.
import Foundation
import GuestLaunch
import GuestClient
import GuestProto
import GuestSys
import GuestTestSupport
import Testing

@Suite
struct StockKernelTests {
    init() throws {
        try #require(GuestUnderTest.debianBootable, "needs GUESTKIT_GUEST_DIR (make guest-image) and GUESTKIT_DEBIAN_KERNEL (make debian-kernel)")
    }

    @Test func initramfsLoadsModulesFindsTheRootByLabelAndSwitchesToIt() throws {
        let session = try GuestUnderTest.Session(machine: "q35", kernel: GuestUnderTest.debianKernel,
                                                 initrd: GuestUnderTest.debianInitramfs,
                                                 appends: ["guest.root=LABEL=guestroot", "guest.dax=always"])
        var passed = false
        defer { if !passed { print(session.guest.diagnostics()) } }
        let info = session.first.info
        #expect(!info.kernelRelease.hasPrefix("6.12") && info.kernelRelease.contains("cloud"), "\(info.kernelRelease)")
        #expect(info.bootStages.map(\.name).contains("modules_loaded"), "\(info.bootStages)")
        #expect(info.bootStages.map(\.name).contains("root_mounted"), "\(info.bootStages)")
        #expect(info.root.switched && info.root.dax && info.root.type == "ext4", "\(info.root)")
        #expect(info.root.source == "/dev/pmem0", "\(info.root)")
        let console = session.guest.console
        for module in ["virtio_pmem", "nd_pmem", "vmw_vsock_virtio_transport"] {
            #expect(console.contains(module), "the console does not mention \(module)")
        }

        let modules = try session.run(["cat", "/proc/modules"])
        for module in ["virtio_pci", "virtio_pmem", "nd_pmem", "vmw_vsock_virtio_transport"] {
            #expect(modules.stdout.contains(module + " "), "\(module) not loaded: \(modules.stdout)")
        }
        let mounts = try session.run(["cat", "/proc/mounts"])
        let root = mounts.stdout.split(separator: "\n").first { $0.split(separator: " ").dropFirst().first == "/" }
        #expect(root?.hasPrefix("/dev/pmem0 / ext4 ro") == true && root?.contains("dax") == true, "\(mounts.stdout)")
        let uname = try session.run(["uname", "-r"])
        #expect(uname.stdout == info.kernelRelease + "\n" && uname.exit == ProcessExit(code: 0, signal: 0), "\(uname)")

        _ = try session.guest.shutdown(session.client, timeout: OwnKernelTests.shutdownBound)
        passed = true
    }
}
