import Foundation
import GuestTestSupport
import HostProcess
import Testing

/// The initramfs boot for real: Debian's cloud kernel in QEMU (TCG) starts guest-init as /init from an
/// initramfs built here (guest-init, the libraries ldd names, the modules modprobe names, depmod); init
/// loads virtio_pci, virtio_pmem and nd_pmem with libkmod, finds LABEL=guestroot on /dev/pmem0 with
/// libblkid, mounts it with DAX under a tmpfs overlay, switches root and starts a busybox stand-in agent,
/// which reports what it sees on the serial console and asks for a power-off.
@Suite(.serialized)
struct InitramfsBootTests {
    let scratch: ScratchDirectory
    let kernel: String
    let initramfs: String
    let rootImage: String

    init() throws {
        try #require(InitramfsBoot.possible, "needs root, qemu-system-x86_64, busybox-static, mke2fs, cpio and out/debian-kernel")
        scratch = try ScratchDirectory("initramfs-boot")
        let kernelDirectory = try #require(DebianModules.kernelDirectory)
        kernel = kernelDirectory + "/vmlinuz"
        initramfs = scratch.file("initramfs.cpio")
        rootImage = scratch.file("root.ext4")
        try buildInitramfs()
        try buildRoot()
    }

    private func run(_ arguments: [String]) throws {
        let result = try Command.run(arguments)
        try #require(result.succeeded, "\(arguments.joined(separator: " ")): \(result)")
    }

    private func buildInitramfs() throws {
        let tree = scratch.file("initramfs")
        let fm = FileManager.default
        for directory in ["dev", "proc", "sys", "run", "etc"] {
            try fm.createDirectory(atPath: tree + "/" + directory, withIntermediateDirectories: true)
        }
        try fm.copyItem(atPath: BuiltProducts.path("guest-init"), toPath: tree + "/init")
        let ldd = try Command.run(["ldd", BuiltProducts.path("guest-init")])
        try #require(ldd.succeeded, "\(ldd)")
        for line in ldd.stdout.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let library = words.first(where: { $0.hasPrefix("/") }).map(String.init) else { continue }
            let target = tree + library
            try fm.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try run(["cp", "-L", library, target])
        }
        let modules = try #require(DebianModules.directory)
        let release = try #require(DebianModules.release)
        let kernelRoot = try #require(DebianModules.kernelDirectory)
        var files: Set<String> = []
        for name in ["virtio_pci", "virtio_pmem", "nd_pmem", "vmw_vsock_virtio_transport", "fs-overlay"] {
            let shown = try Command.run(["modprobe", "-d", kernelRoot, "-S", release, "-C", "/dev/null", "--show-depends", name])
            try #require(shown.succeeded, "\(shown)")
            for line in shown.stdout.split(separator: "\n") where line.hasPrefix("insmod ") {
                files.insert(String(line.split(separator: " ")[1]))
            }
        }
        for file in files {
            let relative = String(file.dropFirst(kernelRoot.count))
            try fm.createDirectory(atPath: ((tree + relative) as NSString).deletingLastPathComponent,
                                   withIntermediateDirectories: true)
            try fm.copyItem(atPath: file, toPath: tree + relative)
        }
        for index in ["modules.builtin", "modules.builtin.modinfo", "modules.order"] {
            try fm.copyItem(atPath: modules + "/" + index, toPath: tree + "/lib/modules/\(release)/" + index)
        }
        try run(["depmod", "-b", tree, release])
        try run(["sh", "-c", "cd \"$1\" && find . | cpio -o -H newc --quiet > \"$2\"", "sh", tree, initramfs])
    }

    private func buildRoot() throws {
        let tree = scratch.file("root")
        let fm = FileManager.default
        for directory in ["bin", "sbin", "proc", "sys", "dev", "run", "tmp", "etc"] {
            try fm.createDirectory(atPath: tree + "/" + directory, withIntermediateDirectories: true)
        }
        try fm.copyItem(atPath: "/bin/busybox", toPath: tree + "/bin/busybox")
        for command in ["sh", "sleep", "cat", "echo", "grep"] {
            try fm.createSymbolicLink(atPath: tree + "/bin/" + command, withDestinationPath: "busybox")
        }
        let agent = """
            #!/bin/sh
            echo "agent-args=[$*] fd=$GUESTKIT_INIT_FD"
            echo READY >&3
            while [ ! -s /run/guest/boot.json ]; do sleep 0.1; done
            echo "boot.json=$(cat /run/guest/boot.json)"
            echo "root-mount=$(grep ' / ' /proc/mounts | grep -v rootfs)"
            echo written > /overlay-test && echo "overlay-write=$(cat /overlay-test)"
            echo "init-gone=$([ -e /init ] && echo no || echo yes)"
            echo POWEROFF >&3
            exec sleep 100

            """
        try agent.write(toFile: tree + "/sbin/guest-agent", atomically: true, encoding: .utf8)
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: tree + "/sbin/guest-agent")
        // 4 KiB blocks and a size that is a multiple of 2 MiB: what DAX on pmem needs.
        try run(["mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-L", "guestroot", "-d", tree, rootImage, "64M"])
    }

    /// Boots q35 with the root image as virtio-pmem; returns the serial console once QEMU exits.
    private func boot(_ commandLine: String) throws -> String {
        let console = scratch.file("console-\(UUID().uuidString.prefix(6)).log")
        var command = ChildCommand("qemu-system-x86_64", ["-accel", "tcg", "-M", "q35", "-m", "256M,slots=2,maxmem=1G",
                          "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio",
                          "-object", "memory-backend-file,id=pm0,share=on,mem-path=\(rootImage),size=64M",
                          "-device", "virtio-pmem-pci,memdev=pm0",
                          "-kernel", kernel, "-initrd", initramfs,
                          "-append", "console=ttyS0 panic=-1 quiet " + commandLine])
        command.output = .file(console, append: false)
        command.error = .standardOutput
        command.lifetime = .seconds(300)
        let qemu = try ChildProcess(command)
        qemu.wait()
        if qemu.timedOut { Issue.record("QEMU still running after 300 s") }
        return (try? String(contentsOfFile: console, encoding: .utf8)) ?? ""
    }

    private func value(_ key: String, in console: String) -> String? {
        console.split(whereSeparator: \.isNewline).first { $0.hasPrefix(key + "=") }
            .map { String($0.dropFirst(key.count + 1)) }
    }

    @Test func switchesToADaxRootUnderAnOverlayAndPowersOff() throws {
        let console = try boot("guest.root=LABEL=guestroot guest.overlay=tmpfs guest.agent_port=1025 "
            + "guest.modules=virtio_pci,virtio_pmem,nd_pmem,vmw_vsock_virtio_transport")
        #expect(console.contains("modules: inserted"), "\(console)")
        #expect(console.contains("vmw_vsock_virtio_transport"))
        #expect(console.contains("root /dev/pmem0 (ext4, LABEL=guestroot"))
        #expect(console.contains("mounted read-only with DAX"))
        #expect(console.contains("filesystem overlay: inserted overlay"))
        #expect(value("agent-args", in: console) == "[--port 1025] fd=3")
        #expect(value("overlay-write", in: console) == "written")
        #expect(value("init-gone", in: console) == "yes")
        #expect(value("root-mount", in: console)?.hasPrefix("overlay / overlay") == true)

        let json = try #require(value("boot.json", in: console))
        let boot = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let root = try #require(boot["root"] as? [String: Any])
        #expect(root["source"] as? String == "/dev/pmem0")
        #expect(root["type"] as? String == "ext4")
        #expect(root["dax"] as? Bool == true)
        #expect(root["overlay"] as? String == "tmpfs")
        #expect(root["switched"] as? Bool == true)
        let stages = (boot["stages"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(stages == ["init_started", "mounts_ready", "modules_loaded", "root_mounted", "agent_started", "agent_ready"])

        #expect(console.contains("power-off: the agent asked for it (POWEROFF)"))
        #expect(console.contains("reboot: Power down"))
    }

    @Test func aMissingRootIsAClearErrorAndPowersOff() throws {
        let console = try boot("guest.root=LABEL=nowhere guest.root_wait=1 guest.modules=virtio_pci,virtio_pmem,nd_pmem")
        #expect(console.contains("error: no root LABEL=nowhere after 1 s"), "\(console)")
        #expect(console.contains("/dev/pmem0 (ext4, LABEL=guestroot"))
        #expect(console.contains("power-off: fatal boot error"))
        #expect(console.contains("reboot: Power down"))
        #expect(!console.contains("agent-args"))
    }
}

enum InitramfsBoot {
    static var possible: Bool {
        getuid() == 0 && DebianModules.directory != nil && Command.exists("qemu-system-x86_64")
            && FileManager.default.isExecutableFile(atPath: "/bin/busybox") && Command.exists("mke2fs")
            && Command.exists("cpio")
    }
}
