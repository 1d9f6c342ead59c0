// GuestInit is everything PID 1 does in a GuestKit guest, in boot order: the basic mounts (MountPlan),
// the kernel command line (BootOptions), kernel modules (ModuleLoader, libkmod), the root (RootPlan,
// RootDevice with libblkid, RootMount with its DaxPolicy, SwitchRoot), host name and loopback, then the
// steady state (InitLoop: AgentSupervisor, Reaper) and the end (ShutdownSequence), with the BootTimeline
// written to /run/guest/boot.json and the VMM's BootTimer fired once the agent is ready.
// It leaves to others: every Linux call (GuestSys), what the agent does (GuestAgent), and what is in the
// image (compose-guest). Machine-wide steps are gated by `Confinement`, so guest-init can be tested as
// the PID 1 of a namespace on a developer's machine.
import GuestSys

/// guest-init's entry points.
public enum GuestInit {
    public static let version = "0.1.0"

    /// What the executable took from its arguments.
    public struct Invocation: Equatable, Sendable {
        /// Used instead of /proc/cmdline (tests, experiments).
        public var commandLine: String?
        /// Arguments guest-init does not use at boot. The kernel passes unrecognised command-line words
        /// (and everything after `--`) to init as arguments, so they are logged, never fatal.
        public var ignoredArguments: [String]

        public init(commandLine: String? = nil, ignoredArguments: [String] = []) {
            self.commandLine = commandLine
            self.ignoredArguments = ignoredArguments
        }
    }

    /// Boots the guest and runs it until shutdown. Never returns: PID 1 returning panics the kernel.
    public static func boot(_ invocation: Invocation) -> Never {
        let initStarted = Clock.bootTimeNanoseconds
        var console = Console()

        let pid = Processes.currentID
        guard pid == 1 else { refuse(.notPID1(pid: pid), console) }
        // Block the signals before anything can send them; children get a clean mask from gk_spawn.
        let signals: SignalDescriptor
        do throws(SysError) {
            signals = try SignalDescriptor(SignalSet([Signal.child, Signal.terminate, Signal.power, Signal.interrupt]))
        } catch {
            console.error("cannot open a signalfd: \(error)")
            haltForever(console, machine: true)
        }
        // A kernel-started init has no /proc yet; it is needed to tell a machine from a namespace.
        if !FileSystem.exists("/proc/self") {
            try? FileSystem.makeDirectories("/proc")
            try? Mounts.mount(source: "proc", target: "/proc", type: "proc", flags: [.noSetuid, .noDevices, .noExec])
        }
        let confinement: Confinement
        switch Confinement.detect() {
        case .success(let found): confinement = found
        case .failure(let refusal): refuse(refusal, console)
        }

        // 1. Mounts.
        MountPlan.apply(console)
        StandardStreams.ensure(console)
        var timeline = BootTimeline()
        timeline.record(.initStarted, at: initStarted)
        timeline.record(.mountsReady)

        // 2. Options.
        let commandLine = invocation.commandLine ?? (try? FileSystem.readText("/proc/cmdline")) ?? ""
        let options = BootOptions(commandLine: commandLine)
        console.level = options.logLevel
        let release = (try? Processes.kernel().release) ?? "unknown"
        console.info("guest-init \(version) on Linux \(release)"
            + (confinement.isMachine ? "" : " (PID 1 of a PID namespace: machine-wide steps skipped)"))
        for warning in options.warnings { console.warning(warning) }
        if !invocation.ignoredArguments.isEmpty {
            console.info("ignoring arguments not used at boot: " + invocation.ignoredArguments.joined(separator: " "))
        }
        if confinement.isMachine { try? Processes.routeCtrlAltDelToInit() }
        let failure = FailurePath(console: console, confinement: confinement, signals: signals, options: options)

        // 3. Modules. The module index is dropped after step 4: nothing loads modules later.
        var modules: ModuleSteps? = ModuleSteps(console: console, confinement: confinement)
        let moduleNames = ModuleList.collect(commandLine: options.modules)
        if !moduleNames.isEmpty {
            modules?.load(moduleNames)
            timeline.record(.modulesLoaded)
        }

        // 4. Root.
        var root: RootReport
        let magic = (try? FileSystem.filesystemType("/")) ?? 0
        switch RootPlan.decide(rootFilesystemMagic: magic, root: options.root, confinement: confinement) {
        case .switchFromInitramfs(let spec):
            do {
                console.info("waiting up to \(DurationText.seconds(options.rootWaitMilliseconds)) for root \(spec)")
                let device = try RootDevice.find(spec, timeoutMilliseconds: options.rootWaitMilliseconds)
                root = try RootMount.mount(device, options: options, console: console,
                                           ensureFilesystem: { modules?.ensureFilesystem($0) })
                try SwitchRoot.perform(newRoot: RootMount.newRoot, console: console)
            } catch {
                failure.fail("\(error)")
            }
            root.switched = true
            MountPlan.apply(console)
            timeline.record(.rootMounted)
            console.info("switched to the root on \(root.source)")
        case .kernelMounted, .skippedInNamespace:
            root = RootReport.current(table: (try? MountEntry.current()) ?? [], kernelRoot: options.kernelRoot)
            if case .refuse(let reason) = options.dax.check(kernelMountedRootIsDax: root.dax) { failure.fail(reason) }
            console.info("root \(root.source) (\(root.type)) was mounted by the kernel \(root.dax ? "with" : "without") DAX")
            if let spec = options.root { console.info("guest.root=\(spec) not used: / is not an initramfs") }
            if options.overlay == .tmpfs {
                console.warning("guest.overlay=tmpfs ignored: overlays are set up only when booting from an initramfs")
            }
        case .stayInInitramfs:
            root = RootReport(source: "rootfs", type: "rootfs", dax: false)
            console.info("running from the initramfs (no guest.root)")
        }

        modules = nil

        // 5. Host name and loopback.
        if let hostname = options.hostname {
            if confinement.mayChangeHostname {
                do throws(SysError) { try Processes.setHostname(hostname) } catch {
                    console.warning("cannot set the host name: \(error)")
                }
            } else {
                console.warning("guest.hostname=\(hostname) ignored: this namespace shares the host's name")
            }
        }
        do throws(SysError) { try NetworkInterfaces.bringUp("lo") } catch {
            console.warning("cannot bring up lo: \(error)")
        }

        // 6–8. Agent, reaping, timeline; 7. shutdown.
        let loop: InitLoop
        do throws(SysError) {
            loop = try InitLoop(console: console, confinement: confinement, signals: signals, options: options,
                                timeline: timeline, report: InitLoop.BootReport(kernelRelease: release, root: root))
        } catch {
            failure.fail("cannot set up the init loop: \(error)")
        }
        let (kind, reason) = loop.run()
        ShutdownSequence(console: console, confinement: confinement, signals: signals,
                         graceMilliseconds: options.shutdownGraceMilliseconds).run(kind, reason: reason)
    }

    /// A human-readable dump of what a command line means to guest-init (`guest-init --print-options`).
    public static func describe(_ options: BootOptions) -> String {
        var lines = [
            "guest.root=\(options.root?.description ?? "(none)")",
            "guest.rootfstype=\(options.rootFilesystem ?? "(detect)")",
            "guest.dax=\(options.dax.rawValue)",
            "guest.overlay=\(options.overlay.rawValue)",
            "guest.modules=\(options.modules.joined(separator: ","))",
            "guest.agent=\(options.agentPath)",
            "guest.agent_port=\(options.agentPort)",
            "guest.log=\(options.logLevel)",
            "guest.boot_timer=\(options.bootTimer.rawValue)",
            "guest.boot_timer_addr=0x\(String(options.bootTimerAddress, radix: 16))",
            "guest.rescue=\(options.rescue ? 1 : 0)",
            "guest.hostname=\(options.hostname ?? "(unchanged)")",
            "guest.root_wait=\(DurationText.seconds(options.rootWaitMilliseconds))",
            "guest.shutdown_grace=\(DurationText.seconds(options.shutdownGraceMilliseconds))",
        ]
        lines += options.warnings.map { "warning: " + $0 }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func refuse(_ refusal: Confinement.Refusal, _ console: Console) -> Never {
        try? console.fd.writeAll("guest-init: \(refusal)\n")
        Processes.exitImmediately(1)
    }

    static func haltForever(_ console: Console, machine: Bool) -> Never {
        if !machine { Processes.exitImmediately(1) }
        console.error("halted; nothing more will happen")
        while true { Clock.sleep(nanoseconds: 3_600_000_000_000) }
    }
}

/// Step 9: a fatal early-boot error is printed, then the guest powers off (after the rescue shell,
/// with `guest.rescue=1`).
struct FailurePath {
    let console: Console
    let confinement: Confinement
    let signals: SignalDescriptor
    let options: BootOptions

    func fail(_ message: String) -> Never {
        console.error(message)
        var reason = "fatal boot error"
        if options.rescue, RescueShell.run(console: console, signals: signals) {
            reason = "the rescue shell ended"
        }
        ShutdownSequence(console: console, confinement: confinement, signals: signals,
                         graceMilliseconds: options.shutdownGraceMilliseconds).run(.powerOff, reason: reason)
    }
}

/// Step 3 and the filesystem modules step 4 needs, on one lazily opened module index.
final class ModuleSteps {
    private let console: Console
    private let confinement: Confinement
    private var loader: ModuleLoader?
    private var indexMissing = false

    init(console: Console, confinement: Confinement) {
        self.console = console
        self.confinement = confinement
    }

    func load(_ names: [String]) {
        let started = Clock.monotonicNanoseconds
        var inserted: [String] = []
        for name in names {
            if ModuleList.isPresent(name) {
                console.debug("module \(name): already in the kernel")
                continue
            }
            guard confinement.isMachine else {
                console.info("module \(name): not loaded (a namespace's init must not change the host's kernel)")
                continue
            }
            guard let loader = openLoader() else {
                console.error("module \(name): not loaded (no module index)")
                continue
            }
            do throws(ModuleError) {
                inserted += try loader.load(name).map(\.name)
            } catch {
                console.error(error.description)
            }
        }
        console.info("modules: inserted \(inserted.isEmpty ? "none" : inserted.joined(separator: ", ")) in "
            + DurationText.milliseconds(Clock.monotonicNanoseconds - started))
    }

    /// Loads `fs-<type>` when the running kernel does not know the filesystem type yet.
    func ensureFilesystem(_ type: String) {
        let known = ModuleList.filesystems((try? FileSystem.readText("/proc/filesystems")) ?? "")
        guard !known.contains(type), confinement.isMachine, let loader = openLoader() else { return }
        do throws(ModuleError) {
            let inserted = try loader.load("fs-" + type)
            console.info("filesystem \(type): inserted \(inserted.map(\.name).joined(separator: ", "))")
        } catch {
            console.warning("filesystem \(type) is not in the kernel and its module did not load: \(error)")
        }
    }

    private func openLoader() -> ModuleLoader? {
        if let loader { return loader }
        if indexMissing { return nil }
        do throws(ModuleError) {
            loader = try ModuleLoader(directory: ModuleLoader.defaultDirectory())
        } catch {
            indexMissing = true
            console.error(error.description)
        }
        return loader
    }
}

/// Descriptors 0–2: when the kernel found no /dev/console in the initramfs it starts init without them,
/// and everything (the agent's output included) would vanish.
enum StandardStreams {
    static func ensure(_ console: Console) {
        for number in Int32(0)...2 where (try? FileDescriptor(rawValue: number).status()) == nil {
            do throws(SysError) {
                let fd = try FileDescriptor.open("/dev/console", [.readWrite, .noControllingTerminal])
                if fd.rawValue != number {
                    try fd.duplicate(as: FileDescriptor(rawValue: number))
                    fd.closeQuietly()
                } else {
                    try fd.setCloseOnExec(false)
                }
            } catch {
                // Nothing to report on: there is no console.
                return
            }
        }
    }
}
