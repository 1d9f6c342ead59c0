import GuestInit
import Testing

@Suite struct BootOptionsTests {
    @Test func kernelParametersLeaveTheGuestOptionsAlone() {
        let options = BootOptions(commandLine: "console=ttyS0 root=/dev/pmem0 rootfstype=ext4 rootflags=dax ro quiet")
        #expect(options.kernelRoot == "/dev/pmem0")
        #expect(options.kernelRootFilesystem == "ext4")
        #expect(options.kernelRootFlags == "dax")
        var guestPart = options
        (guestPart.kernelRoot, guestPart.kernelRootFilesystem, guestPart.kernelRootFlags) = (nil, nil, nil)
        #expect(guestPart == BootOptions())
    }

    @Test(arguments: [
        ("guest.root=/dev/vda", RootSpec.path("/dev/vda")),
        ("guest.root=LABEL=guestroot", .label("guestroot")),
        ("guest.root=label=guestroot", .label("guestroot")),
        ("guest.root=LABEL=\"quoted\"", .label("quoted")),
        ("\"guest.root=LABEL=with space\"", .label("with space")),
        ("guest.root=UUID=ABCD-1234", .uuid("abcd-1234")),
        ("guest.root=PARTUUID=0FC63DAF-8483-4772-8E79-3D69D8477DE4-x", .partitionUUID("0fc63daf-8483-4772-8e79-3d69d8477de4-x")),
        ("guest.root=/dev/vda guest.root=/dev/pmem0", .path("/dev/pmem0")),
    ])
    func rootSpecs(text: String, expected: RootSpec) {
        let options = BootOptions(commandLine: text)
        #expect(options.root == expected)
        #expect(options.warnings.isEmpty)
    }

    @Test(arguments: ["guest.root=vda", "guest.root=LABEL=", "guest.root=/"])
    func badRootIsAWarningAndNoRoot(text: String) {
        let options = BootOptions(commandLine: text)
        #expect(options.root == nil)
        #expect(options.warnings.count == 1)
        #expect(options.warnings.first?.contains("guest.root") == true)
    }

    @Test func everyOptionIsRead() {
        let options = BootOptions(commandLine: """
            guest.rootfstype=erofs guest.dax=always guest.overlay=tmpfs guest.modules=virtio_pmem,nd_pmem \
            guest.agent=/usr/bin/agent guest.agent_port=2048 guest.log=debug guest.boot_timer=firecracker \
            guest.boot_timer_addr=0xd0000000 guest.rescue=1 guest.hostname=box guest.root_wait=2.5 \
            guest.shutdown_grace=500ms
            """)
        #expect(options.rootFilesystem == "erofs")
        #expect(options.dax == .always)
        #expect(options.overlay == .tmpfs)
        #expect(options.modules == ["virtio_pmem", "nd_pmem"])
        #expect(options.agentPath == "/usr/bin/agent")
        #expect(options.agentPort == 2048)
        #expect(options.logLevel == .debug)
        #expect(options.bootTimer == .firecracker)
        #expect(options.bootTimerAddress == 0xD000_0000)
        #expect(options.rescue)
        #expect(options.hostname == "box")
        #expect(options.rootWaitMilliseconds == 2500)
        #expect(options.shutdownGraceMilliseconds == 500)
        #expect(options.warnings.isEmpty)
    }

    @Test func repeatsLastWinsButModulesAccumulate() {
        let options = BootOptions(commandLine:
            "guest.dax=never guest.dax=always guest.modules=a,b guest.agent_port=1 guest.modules=b,c,,d guest.agent_port=7 guest.boot_timer=cloud-hypervisor")
        #expect(options.dax == .always)
        #expect(options.modules == ["a", "b", "c", "d"])
        #expect(options.agentPort == 7)
        #expect(options.bootTimer == .cloudHypervisor)
    }

    @Test func dashesAndUnderscoresAreTheSame() {
        let options = BootOptions(commandLine: "guest.agent-port=99 guest.shutdown-grace=3 guest.root-wait=1s")
        #expect(options.agentPort == 99)
        #expect(options.shutdownGraceMilliseconds == 3000)
        #expect(options.rootWaitMilliseconds == 1000)
    }

    @Test func unknownKeysAreWarningsOnly() {
        let options = BootOptions(commandLine: "guest.frobnicate=yes guest.log=debug guest.bogus other.key=1")
        #expect(options.logLevel == .debug)
        #expect(options.warnings == ["unknown option guest.frobnicate=yes ignored", "unknown option guest.bogus ignored"])
    }

    @Test(arguments: [
        "guest.dax=maybe", "guest.overlay=zram", "guest.agent=relative/path", "guest.agent_port=x",
        "guest.agent_port=0", "guest.log=loud", "guest.boot_timer=qemu", "guest.boot_timer_addr=zz",
        "guest.rescue=perhaps", "guest.hostname=", "guest.root_wait=1.2345", "guest.shutdown_grace=-1",
        "guest.agent_port=4294967295", "guest.agent_port=4294967296",
        // Values that used to overflow later (`ms + fraction`, `× 1_000_000`): a trap in PID 1 panics the kernel.
        "guest.root_wait=99999999999999999", "guest.root_wait=18446744073709551.999", "guest.root_wait=18446744073709551615ms",
        "guest.shutdown_grace=99999999999999", "guest.root_wait=86401", "guest.shutdown_grace=86400001ms",
    ])
    func badValuesKeepDefaults(text: String) {
        let options = BootOptions(commandLine: text)
        var defaults = BootOptions()
        defaults.warnings = options.warnings
        #expect(options == defaults)
        #expect(options.warnings.count == 1)
        #expect(options.warnings.first?.hasPrefix(text) == true)
    }

    @Test(arguments: [("guest.root_wait=86400", UInt64(86_400_000)), ("guest.root_wait=0", 0),
                      ("guest.shutdown_grace=86400000ms", 86_400_000), ("guest.shutdown_grace=0.001", 1)])
    func durationsUpToADayAreKept(text: String, milliseconds: UInt64) {
        let options = BootOptions(commandLine: text)
        #expect(options.warnings.isEmpty)
        #expect((text.contains("root_wait") ? options.rootWaitMilliseconds : options.shutdownGraceMilliseconds) == milliseconds)
    }

    @Test(arguments: [("guest.rescue", true), ("guest.rescue=0", false), ("guest.rescue=yes", true), ("guest.rescue=off", false)])
    func rescueFlag(text: String, on: Bool) {
        #expect(BootOptions(commandLine: text).rescue == on)
    }

    @Test func optionsAfterDoubleDashBelongToInit() {
        #expect(BootOptions(commandLine: "guest.dax=never -- guest.dax=always").dax == .never)
    }
}
