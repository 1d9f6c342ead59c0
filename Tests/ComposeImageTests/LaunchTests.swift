// compose-guest launch: the printed settings for each VMM, and real QEMU 7.2 (TCG) booting Debian's cloud kernel
// with the printed q35 and microvm lines.
import ComposeImage
import Foundation
import GuestTestSupport
import Testing

@Suite
struct LaunchTests {
    init() throws {
        try #require(ImageTest.productsBuilt, "build guest-init, guest-agent and compose-guest first (swift build)")
    }

    static func launch(_ arguments: [String]) throws -> CommandResult {
        try Command.run([ImageTest.composeGuest, "launch"] + arguments)
    }

    static func argv(_ arguments: [String]) throws -> [String] {
        let result = try launch(arguments + ["--output", "json"])
        #expect(result.succeeded, "\(result)")
        return try JSONDecoder().decode([String].self, from: Data(result.stdout.utf8))
    }

    static func value(after flag: String, in argv: [String], containing fragment: String = "") -> String? {
        argv.indices.dropLast().first { argv[$0] == flag && (fragment.isEmpty || argv[$0 + 1].contains(fragment)) }.map { argv[$0 + 1] }
    }

    @Test func q35LineAttachesADaxImageAsVirtioPmemWithVhostUserVsock() throws {
        let image = try ImageTest.sharedImage("ext4", ["--dax"])
        let size = try #require(try FileManager.default.attributesOfItem(atPath: image)[.size] as? Int)
        let argv = try Self.argv(["--vmm", "qemu", "--manifest", image + ".manifest.json"])
        #expect(argv.first == "qemu-system-x86_64")
        #expect(Self.value(after: "-M", in: argv) == "q35,memory-backend=mem")
        #expect(Self.value(after: "-accel", in: argv) == "tcg")
        #expect(Self.value(after: "-object", in: argv, containing: "memory-backend-file")
                == "memory-backend-file,id=rootfs,share=on,readonly=on,mem-path=\(image),size=\(size)")
        #expect(Self.value(after: "-device", in: argv, containing: "pmem") == "virtio-pmem-pci,memdev=rootfs,id=pmem0")
        #expect(Self.value(after: "-object", in: argv, containing: "memfd") == "memory-backend-memfd,id=mem,size=256M,share=on")
        #expect(Self.value(after: "-chardev", in: argv) == "socket,id=vsock0,path=\(image).vsock.vhost")
        #expect(Self.value(after: "-device", in: argv, containing: "vsock") == "vhost-user-vsock-pci,chardev=vsock0")
        let append = try #require(Self.value(after: "-append", in: argv))
        #expect(append == "console=ttyS0 quiet root=/dev/pmem0 rootfstype=ext4 rootflags=dax ro lapic_timer_khz=1000000 noreplace-smp "
                + "page_reporting.page_reporting_order=6 "
                + "guest.agent=/sbin/guest-agent guest.agent_port=1024")
        let bridge = try Self.argv(["--vmm", "vsock-bridge", "--manifest", image + ".manifest.json"])
        #expect(bridge == ["guest-vsock-bridge", "--socket", image + ".vsock.vhost", "--uds", image + ".vsock", "--guest-cid", "3"])
    }

    @Test func microvmUsesVirtioBlkWithoutDax() throws {
        let image = try ImageTest.sharedImage("ext4", ["--dax"])
        let argv = try Self.argv(["--vmm", "qemu", "--machine", "microvm", "--vsock", "vhost", "--manifest", image + ".manifest.json"])
        #expect(Self.value(after: "-M", in: argv) == "microvm,acpi=off")
        #expect(Self.value(after: "-device", in: argv, containing: "blk") == "virtio-blk-device,drive=rootfs")
        #expect(Self.value(after: "-device", in: argv, containing: "vsock") == "vhost-vsock-device,guest-cid=3")
        let append = try #require(Self.value(after: "-append", in: argv))
        #expect(append.contains("root=/dev/vda ") && !append.contains("dax"))
        #expect(!argv.contains { $0.contains("pmem") })
    }

    @Test func firecrackerConfigHasBootSourcePmemAndVsock() throws {
        let image = try ImageTest.sharedImage("ext4", ["--dax"])
        let result = try Self.launch(["--vmm", "firecracker", "--manifest", image + ".manifest.json", "--kernel", "/k/vmlinux"])
        #expect(result.succeeded, "\(result)")
        let config = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let boot = try #require(config["boot-source"] as? [String: Any])
        #expect(boot["kernel_image_path"] as? String == "/k/vmlinux")
        #expect((boot["boot_args"] as? String)?.contains("root=/dev/pmem0 rootfstype=ext4 rootflags=dax ro") == true)
        #expect((boot["boot_args"] as? String)?.contains("pci=off") == true)
        let pmem = try #require((config["pmem"] as? [[String: Any]])?.first)
        #expect(pmem["path_on_host"] as? String == image && pmem["root_device"] as? Bool == true)
        #expect((config["drives"] as? [Any])?.isEmpty == true)
        let vsock = try #require(config["vsock"] as? [String: Any])
        #expect(vsock["guest_cid"] as? Int == 3 && vsock["uds_path"] as? String == image + ".vsock")
        #expect((config["machine-config"] as? [String: Any])?["mem_size_mib"] as? Int == 256)
    }

    @Test func nonDaxImageIsADriveEverywhere() throws {
        let image = try ImageTest.sharedImage("ext4")
        let result = try Self.launch(["--vmm", "firecracker", "--manifest", image + ".manifest.json"])
        let config = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let drive = try #require((config["drives"] as? [[String: Any]])?.first)
        #expect(drive["is_root_device"] as? Bool == true && drive["is_read_only"] as? Bool == true)
        #expect(config["pmem"] == nil)
        let q35 = try Self.argv(["--vmm", "qemu", "--manifest", image + ".manifest.json"])
        #expect(Self.value(after: "-device", in: q35, containing: "blk") == "virtio-blk-pci,drive=rootfs")
        let ch = try Self.argv(["--vmm", "cloud-hypervisor", "--manifest", image + ".manifest.json"])
        #expect(Self.value(after: "--disk", in: ch) == "path=\(image),readonly=on")
        let kvm = try Self.argv(["--vmm", "kvmtool", "--manifest", image + ".manifest.json"])
        #expect(Self.value(after: "-d", in: kvm) == "\(image),ro")
    }

    @Test func cloudHypervisorTakesTheDaxImageAsPmem() throws {
        let image = try ImageTest.sharedImage("ext4", ["--dax"])
        let ch = try Self.argv(["--vmm", "cloud-hypervisor", "--manifest", image + ".manifest.json"])
        #expect(Self.value(after: "--pmem", in: ch) == "file=\(image),discard_writes=on")
        #expect(Self.value(after: "--vsock", in: ch) == "cid=3,socket=\(image).vsock")
        #expect(Self.value(after: "--cmdline", in: ch)?.contains("root=/dev/pmem0") == true)
    }

    @Test func manifestRecordsKernelsWithDigests() throws {
        let scratch = try ScratchDirectory("gk-kernels")
        try Data("not really a kernel".utf8).write(to: URL(fileURLWithPath: scratch.file("bzImage")))
        let image = scratch.file("g.img")
        try ImageTest.composeDefault(["--kernel-dir", scratch.path, "-o", image])
        let kernels = try #require(try ImageTest.manifest(image)["kernels"] as? [[String: Any]])
        #expect(kernels.count == 1)
        #expect(kernels.first?["kind"] as? String == "bzImage")
        #expect(kernels.first?["size"] as? Int == 19)
        #expect(kernels.first?["sha256"] as? String == (try ImageTest.sha256(scratch.file("bzImage"))))
        let q35 = try Self.argv(["--vmm", "qemu", "--manifest", image + ".manifest.json"])
        #expect(Self.value(after: "-kernel", in: q35) == scratch.file("bzImage"))
    }

    @Test func badLaunchRequestsFail() throws {
        let image = try ImageTest.sharedImage("ext4")
        let unknown = try Self.launch(["--vmm", "bochs", "--manifest", image + ".manifest.json"])
        #expect(!unknown.succeeded && unknown.stderr.contains("--vmm bochs"))
        let missing = try Self.launch(["--vmm", "qemu", "--manifest", "/nonexistent.manifest.json"])
        #expect(!missing.succeeded && missing.stderr.contains("manifest /nonexistent.manifest.json: missing or unreadable"))
    }

    // MARK: Real QEMU

    static var canBoot: Bool { Command.exists("qemu-system-x86_64") && DebianKernel.directory != nil && Command.exists("busybox") }

    /// Runs QEMU from a launch argv with a time limit; returns the console output.
    static func runQEMU(_ argv: [String], seconds: Int) throws -> CommandResult {
        try Command.run(["timeout", "--kill-after=10", String(seconds)] + argv)
    }

    /// An initramfs with Debian's virtio/pmem modules and a busybox script that mounts `device` (with
    /// `options`), prints what it mounted and ends with `end` (microvm without ACPI cannot power off: a
    /// restart, which -no-reboot turns into QEMU exiting, ends it there).
    static func daxProbeInitramfs(in scratch: ScratchDirectory, device: String = "/dev/pmem0",
                                  options: String = "ro,dax", end: String = "poweroff -f") throws -> String {
        let kernel = try #require(DebianKernel.directory)
        let script = """
            #!/bin/sh
            mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
            for m in virtio_pci virtio_blk virtio_pmem nd_pmem; do modprobe $m; done
            sleep 1
            mkdir -p /mnt/root
            if mount -t ext4 -o \(options) \(device) /mnt/root; then
              grep /mnt/root /proc/mounts | sed 's/^/GK-MOUNT: /'
              ls /mnt/root/sbin | sed 's/^/GK-SBIN: /'
            else
              echo GK-MOUNT-FAILED; ls /dev | tr '\\n' ' '
            fi
            \(end)
            """
        try script.write(toFile: scratch.file("probe.sh"), atomically: true, encoding: .utf8)
        chmod(scratch.file("probe.sh"), 0o755)
        try "::sysinit:/etc/probe.sh\n".write(toFile: scratch.file("inittab"), atomically: true, encoding: .utf8)
        let spec = """
            init: /bin/busybox
            format: initramfs
            output: probe.cpio.gz
            add:
              - probe.sh:/etc/probe.sh
              - inittab:/etc/inittab
            links:
              - { path: /bin/sh, target: /sbin/init }
              - { path: /sbin/modprobe, target: init }
              - { path: /bin/mount, target: /sbin/init }
            modules: { from: \(kernel), load: [virtio_pci, virtio_blk, virtio_pmem, nd_pmem] }
            """
        try spec.write(toFile: scratch.file("probe.yaml"), atomically: true, encoding: .utf8)
        let result = try ImageTest.compose(["image", "--spec", scratch.file("probe.yaml")])
        #expect(result.succeeded, "\(result)")
        return scratch.file("probe.cpio.gz")
    }

    @Test(.timeLimit(.minutes(5)))
    func q35LaunchLineMountsTheImageWithDaxUnderTCG() throws {
        try #require(Self.canBoot, "needs qemu-system-x86_64, busybox and GUESTKIT_DEBIAN_KERNEL")
        let kernel = try #require(DebianKernel.directory)
        let scratch = try ScratchDirectory("gk-qemu-q35")
        let image = scratch.file("guest.img")
        try ImageTest.composeDefault(["--dax", "--kernel", kernel + "/vmlinuz", "-o", image])
        let initrd = try Self.daxProbeInitramfs(in: scratch)
        // vsock none: the bridge (another part) is not running here; everything else is the printed line.
        let argv = try Self.argv(["--vmm", "qemu", "--manifest", image + ".manifest.json", "--vsock", "none", "--initrd", initrd,
                                  "--append", "rdinit=/init", "--kernel-log"])
        let run = try Self.runQEMU(argv, seconds: 240)
        #expect(run.status == 0, "QEMU exited \(run.status); console:\n\(run.stdout.suffix(3000))\n\(run.stderr)")
        #expect(run.stdout.contains("Command line: console=ttyS0 root=/dev/pmem0 rootfstype=ext4 rootflags=dax ro"))
        // The serial console ends lines with "\r\n", one Character in Swift: split on any newline.
        let mount = run.stdout.split(whereSeparator: \.isNewline).first { $0.hasPrefix("GK-MOUNT: ") }
        #expect(mount?.contains("/dev/pmem0 /mnt/root ext4 ro") == true, "console:\n\(run.stdout.suffix(3000))")
        #expect(mount?.contains("dax=always") == true)
        #expect(run.stdout.contains("GK-SBIN: guest-agent") && run.stdout.contains("GK-SBIN: init"))
    }

    /// The printed microvm line with our kernel (vmlinux through PVH; Debian's kernel cannot find
    /// microvm's virtio-mmio devices without ACPI): the guest must reach the image on virtio-blk.
    @Test(.timeLimit(.minutes(5)))
    func microvmLaunchLineBootsTheKernelUnderTCG() throws {
        try #require(Self.canBoot, "needs qemu-system-x86_64 and GUESTKIT_DEBIAN_KERNEL")
        let kernelDirectory = try #require(ProcessInfo.processInfo.environment["GUESTKIT_KERNEL_DIR"],
                                           "needs GUESTKIT_KERNEL_DIR (make kernel)")
        let vmlinux = kernelDirectory + "/vmlinux"
        try #require(FileManager.default.fileExists(atPath: vmlinux), "no \(vmlinux); run make kernel")
        let scratch = try ScratchDirectory("gk-qemu-microvm")
        let image = scratch.file("guest.img")
        try ImageTest.composeDefault(["--kernel", vmlinux, "-o", image])
        let initrd = try Self.daxProbeInitramfs(in: scratch, device: "/dev/vda", options: "ro", end: "reboot -f")
        let argv = try Self.argv(["--vmm", "qemu", "--machine", "microvm", "--manifest", image + ".manifest.json", "--vsock", "none",
                                  "--kernel", vmlinux, "--initrd", initrd, "--append", "rdinit=/init", "--kernel-log"])
        let run = try Self.runQEMU(argv, seconds: 240)
        #expect(run.status == 0, "QEMU exited \(run.status): \(run.stderr)\n\(run.stdout.suffix(2000))")
        #expect(run.stdout.contains("Command line: console=ttyS0 root=/dev/vda rootfstype=ext4 ro"))
        let mount = run.stdout.split(whereSeparator: \.isNewline).first { $0.hasPrefix("GK-MOUNT: ") }
        #expect(mount?.contains("/dev/vda /mnt/root ext4 ro") == true, "console:\n\(run.stdout.suffix(3000))")
        #expect(run.stdout.contains("GK-SBIN: guest-agent") && run.stdout.contains("GK-SBIN: init"))
    }
}
