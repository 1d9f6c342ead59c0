import Foundation
import GuestTestSupport
import Testing
@testable import ComposeKernel

/// The kernel `make kernel` built (GUESTKIT_KERNEL_DIR) booted under QEMU TCG the two ways the
/// end-to-end tests boot it: q35 with the bzImage and a DAX rootfs on virtio-pmem, and microvm with
/// vmlinux through the PVH entry and the rootfs on virtio-blk-device. A busybox initramfs checks what
/// guest-init and guest-agent rely on and prints `GK:` lines; the tests assert on the console.
enum KernelUnderTest {
    static let directory = ProcessInfo.processInfo.environment["GUESTKIT_KERNEL_DIR"].map { URL(fileURLWithPath: $0) }

    static var bootable: Bool {
        guard let directory else { return false }
        let manager = FileManager.default
        return ["bzImage", "vmlinux", "config"].allSatisfy { manager.fileExists(atPath: directory.appendingPathComponent($0).path) }
            && manager.isExecutableFile(atPath: "/bin/busybox") && Command.exists("qemu-system-x86_64")
            && Command.exists("mke2fs") && Command.exists("cpio")
    }
}

/// The guest's checks: each prints a `GK:` line the tests look for.
let initScript = """
    #!/bin/busybox sh
    # No /dev/console node in this archive: mount devtmpfs first, then take the console.
    /bin/busybox mkdir -p /dev /proc /sys /mnt /tmp
    /bin/busybox mount -t devtmpfs devtmpfs /dev
    exec 0</dev/console 1>/dev/console 2>&1
    /bin/busybox --install -s /bin
    export PATH=/bin
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    echo "GK: userspace reached, kernel $(uname -r)"
    dmesg | grep -o 'lapic timer already calibrated [0-9]*' | sed 's/^/GK: /'
    echo "GK: filesystems: $(grep -v nodev /proc/filesystems | tr -d '\\t' | tr '\\n' ' ') $(grep -oE 'overlay|tmpfs|devpts|cgroup2|virtiofs' /proc/filesystems | tr '\\n' ' ')"
    [ -c /dev/vsock ] && echo "GK: /dev/vsock present"
    [ -c /dev/mem ] && echo "GK: /dev/mem present"
    mkdir -p /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup && echo "GK: cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
    mkdir -p /dev/pts && mount -t devpts devpts /dev/pts && [ -c /dev/ptmx ] && echo "GK: devpts mounted"
    ip link set lo up 2>/dev/null && ip addr show lo | grep -q 127.0.0.1 && echo "GK: loopback up"
    mount -t tmpfs tmpfs /tmp && mkdir -p /tmp/u /tmp/w /tmp/o && mount -t overlay overlay -o lowerdir=/bin,upperdir=/tmp/u,workdir=/tmp/w /tmp/o && echo "GK: overlay on tmpfs mounted"
    if [ -b /dev/pmem0 ]; then
        echo "GK: /dev/pmem0 present"
        mount -t ext4 -o ro,dax /dev/pmem0 /mnt && echo "GK: pmem mount: $(grep ' /mnt ' /proc/mounts)" && echo "GK: read $(cat /mnt/token)"
    fi
    if [ -b /dev/vda ]; then
        echo "GK: /dev/vda present"
        mount -t ext4 -o ro /dev/vda /mnt && echo "GK: vda mount: $(grep ' /mnt ' /proc/mounts)" && echo "GK: read $(cat /mnt/token)"
        mkdir -p /mnt2 && if mount -t ext4 -o ro,dax /dev/vda /mnt2 2>/dev/null; then echo "GK: dax on vda: $(grep ' /mnt2 ' /proc/mounts)"; else echo "GK: dax on vda refused"; fi
    fi
    echo "GK: done"
    poweroff -f
    """

@Suite
struct KernelBootTests {
    init() throws {
        try #require(KernelUnderTest.bootable, "needs GUESTKIT_KERNEL_DIR (make kernel), qemu-system-x86_64, busybox-static, mke2fs, cpio")
    }

    /// An initramfs with busybox and the check script, and a 64 MiB ext4 image (4 KiB blocks, a DAX
    /// requirement) holding a token file.
    struct GuestFiles {
        let scratch: ScratchDirectory
        let initramfs: String
        let image: String
        let token: String

        init() throws {
            scratch = try ScratchDirectory("kernel-boot")
            let root = scratch.file("root")
            try FileManager.default.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: root + "/bin/busybox")
            try initScript.write(toFile: root + "/init", atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root + "/init")
            initramfs = scratch.file("initramfs.cpio")
            let cpio = try Command.run(["sh", "-c", "cd '\(root)' && find . | cpio -o -H newc --quiet > '\(initramfs)'"])
            #expect(cpio.succeeded, "\(cpio)")
            token = "token-\(UUID().uuidString.prefix(8))"
            let content = scratch.file("content")
            try FileManager.default.createDirectory(atPath: content, withIntermediateDirectories: true)
            try token.write(toFile: content + "/token", atomically: true, encoding: .utf8)
            image = scratch.file("root.ext4")
            let mke2fs = try Command.run(["mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-L", "guestroot", "-d", content, image, "64M"])
            #expect(mke2fs.succeeded, "\(mke2fs)")
        }
    }

    static func kernel(_ name: String) -> String { KernelUnderTest.directory!.appendingPathComponent(name).path }

    @Test func bootsOnQ35WithDaxRootOnVirtioPmem() throws {
        let files = try GuestFiles()
        let boot = try QemuConsoleBoot.run([
            "-M", "q35", "-m", "256M,slots=2,maxmem=1G", "-smp", "1", "-nodefaults", "-no-user-config",
            "-kernel", Self.kernel("bzImage"), "-initrd", files.initramfs,
            // The launch settings' APIC timer clock (kernel-config/patches/0003); apic=verbose logs its use.
            "-append", "console=ttyS0 panic=-1 apic=verbose lapic_timer_khz=1000000",
            "-object", "memory-backend-file,id=pm0,share=on,mem-path=\(files.image),size=64M",
            "-device", "virtio-pmem-pci,memdev=pm0",
        ], marker: "GK: done")
        #expect(boot.sawMarker, "\(boot)")
        let lines = boot.console.split(whereSeparator: \.isNewline).map(String.init)
        func has(_ prefix: String) -> Bool { lines.contains { $0.hasPrefix(prefix) } }
        #expect(has("GK: userspace reached, kernel 6.12"), "\(boot)")
        // 1 GHz at HZ=250: 4,000,000 bus clocks a jiffy, taken as given instead of calibrated for 100 ms.
        #expect(has("GK: lapic timer already calibrated 4000000"), "\(boot)")
        #expect(has("GK: /dev/vsock present"), "\(boot)")
        #expect(has("GK: /dev/mem present"), "\(boot)")
        #expect(lines.contains { $0.hasPrefix("GK: cgroup2 controllers:") && $0.contains("memory") && $0.contains("pids") }, "\(boot)")
        #expect(has("GK: devpts mounted") && has("GK: loopback up") && has("GK: overlay on tmpfs mounted"), "\(boot)")
        #expect(lines.contains { $0.hasPrefix("GK: filesystems:") && $0.contains("ext4") && $0.contains("erofs") }, "\(boot)")
        #expect(has("GK: /dev/pmem0 present"), "\(boot)")
        let mount = lines.first { $0.hasPrefix("GK: pmem mount:") }
        #expect(mount?.contains("/dev/pmem0 /mnt ext4 ro") == true && mount?.contains("dax") == true, "\(boot)")
        #expect(has("GK: read \(files.token)"), "\(boot)")
    }

    @Test func bootsOnMicrovmThroughPVHWithRootOnVirtioBlk() throws {
        let files = try GuestFiles()
        let boot = try QemuConsoleBoot.run([
            // acpi=off as the launch settings have it: with ACPI, TCG on a loaded host can leave the kernel
            // without a ticking timer ("Marking TSC unstable", then nothing).
            "-M", "microvm,acpi=off", "-m", "256M", "-smp", "1", "-nodefaults", "-no-user-config",
            "-kernel", Self.kernel("vmlinux"), "-initrd", files.initramfs,
            "-append", "console=ttyS0 panic=-1",
            "-drive", "id=root,file=\(files.image),format=raw,if=none,readonly=on",
            "-device", "virtio-blk-device,drive=root",
        ], marker: "GK: done")
        #expect(boot.sawMarker, "\(boot)")
        let lines = boot.console.split(whereSeparator: \.isNewline).map(String.init)
        func has(_ prefix: String) -> Bool { lines.contains { $0.hasPrefix(prefix) } }
        #expect(has("GK: userspace reached, kernel 6.12"), "\(boot)")
        #expect(has("GK: /dev/vsock present"), "\(boot)")
        #expect(lines.contains { $0.hasPrefix("GK: cgroup2 controllers:") && $0.contains("cpu") }, "\(boot)")
        #expect(has("GK: /dev/vda present"), "\(boot)")
        #expect(lines.contains { $0.hasPrefix("GK: vda mount:") && $0.contains("/dev/vda /mnt ext4 ro") }, "\(boot)")
        #expect(has("GK: read \(files.token)"), "\(boot)")
    }
}
