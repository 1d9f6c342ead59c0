// QEMU's line for a VM with 9p shares and tap NICs: the words it is made of, and real QEMU 7.2 accepting
// it on q35 and microvm (started paused with -S in a scratch network namespace holding the taps; a line
// QEMU refuses makes it exit at once with the reason).
import Foundation
import GuestLaunch
import GuestSys
import GuestTestSupport
import HostProcess
import Testing

@Suite(.serialized)
struct QemuCommandTests {
    static func machine(kernel: String, image: String, share: String, machine: QemuMachineType) -> VirtualMachine {
        var vm = VirtualMachine(kernel: kernel, commandLine: "console=ttyS0", memoryMiB: 256, vcpus: 1)
        vm.rootDisk = Disk(path: image, size: 64 << 20, attachment: machine == .q35 ? .pmem : .block)
        vm.shares = [SharedDirectory(hostPath: share, tag: "bundle"), SharedDirectory(hostPath: share, tag: "config", readOnly: true)]
        vm.interfaces = [NetworkInterface(tap: "gkhosttap0", mac: "02:00:00:00:00:01")]
        return vm
    }

    @Test func sharesAndNICsBecomeFsdevAndNetdevPairs() {
        let argv = QemuCommand.arguments(for: Self.machine(kernel: "/k/bzImage", image: "/i.img", share: "/srv/b", machine: .q35), machine: .q35)
        func value(after flag: String, containing text: String) -> String? {
            argv.indices.dropLast().first { argv[$0] == flag && argv[$0 + 1].contains(text) }.map { argv[$0 + 1] }
        }
        #expect(value(after: "-fsdev", containing: "fs0") == "local,id=fs0,path=/srv/b,security_model=passthrough,multidevs=remap")
        #expect(value(after: "-fsdev", containing: "fs1") == "local,id=fs1,path=/srv/b,security_model=passthrough,multidevs=remap,readonly=on")
        #expect(value(after: "-device", containing: "9p") == "virtio-9p-pci,fsdev=fs0,mount_tag=bundle")
        #expect(value(after: "-netdev", containing: "tap") == "tap,id=net0,ifname=gkhosttap0,script=no,downscript=no")
        #expect(value(after: "-device", containing: "net") == "virtio-net-pci,netdev=net0,mac=02:00:00:00:00:01")
        let microvm = QemuCommand.arguments(for: Self.machine(kernel: "/k/vmlinux", image: "/i.img", share: "/srv/b", machine: .microvm),
                                            machine: .microvm)
        #expect(microvm.contains("virtio-9p-device,fsdev=fs0,mount_tag=bundle") && microvm.contains("virtio-net-device,netdev=net0,mac=02:00:00:00:00:01"))
    }

    @Test(arguments: QemuMachineType.allCases)
    func freePageReportingIsABalloonDeviceUnlessTurnedOff(machine: QemuMachineType) {
        var vm = Self.machine(kernel: "/k/vmlinux", image: "/i.img", share: "/srv/b", machine: machine)
        let device = (machine == .q35 ? "virtio-balloon-pci" : "virtio-balloon-device") + ",free-page-reporting=on"
        let on = QemuCommand.arguments(for: vm, machine: machine)
        #expect(on.indices.dropLast().contains { on[$0] == "-device" && on[$0 + 1] == device }, "\(on)")
        vm.freePageReporting = false
        #expect(!QemuCommand.arguments(for: vm, machine: machine).contains { $0.contains("balloon") })
    }

    @Test(arguments: QemuMachineType.allCases)
    func realQemuAcceptsTheLine(machine: QemuMachineType) throws {
        try #require(getuid() == 0, "creating a network namespace with a tap needs root")
        let kernelDirectory = try #require(ProcessInfo.processInfo.environment["GUESTKIT_KERNEL_DIR"], "GUESTKIT_KERNEL_DIR (make kernel)")
        let scratch = try ScratchDirectory("gk-launch")
        let image = scratch.file("rootfs.img")
        #expect(try Command.run(["truncate", "-s", "64M", image]).succeeded)
        try FileManager.default.createDirectory(atPath: scratch.file("share"), withIntermediateDirectories: true)
        let namespace = "gkhost-launch-\(getpid())"
        #expect(try Command.run(["ip", "netns", "add", namespace]).succeeded)
        defer { _ = try? Command.run(["ip", "netns", "delete", namespace]) }
        let tap = try Command.run(["ip", "netns", "exec", namespace, "ip", "tuntap", "add", "dev", "gkhosttap0", "mode", "tap"])
        #expect(tap.succeeded, "\(tap)")

        let kernel = kernelDirectory + (machine == .q35 ? "/bzImage" : "/vmlinux")
        var vm = Self.machine(kernel: kernel, image: image, share: scratch.file("share"), machine: machine)
        vm.console = .file(scratch.file("console.log"))
        let argv = QemuCommand.arguments(for: vm, machine: machine)
        var command = ChildCommand("ip", ["netns", "exec", namespace] + argv + ["-S"])
        command.output = .file(scratch.file("qemu.log"))
        command.error = .standardOutput
        command.lifetime = .seconds(60)
        let qemu = try ChildProcess(command)
        defer { qemu.kill() }
        let ended = qemu.wait(timeout: .seconds(3))
        let log = (try? String(contentsOfFile: scratch.file("qemu.log"), encoding: .utf8)) ?? ""
        #expect(ended == nil, "QEMU refused the line (\(String(describing: ended))): \(log)\n\(ShellQuoting.line(argv))")
        #expect(!log.contains("rror"), "\(log)")
    }
}
