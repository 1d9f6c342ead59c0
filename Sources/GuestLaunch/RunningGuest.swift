// One guest running under QEMU: guest-vsock-bridge first (when the VM's vsock goes through it), then QEMU
// with the VM's command line, its serial console in a file, on the accelerator chosen (`auto` probes KVM).
// Both are HostProcess children: killed with their groups on every way out, QEMU at `maximumLifetime` at
// the latest, even if nobody waits for it. A caller with its own VM (the containerd shim: an image plus
// 9p shares and NICs) builds a GuestLaunchRequest; `compose-guest boot`, the tests and the benchmarks
// boot a composed image's manifest through BootRequest.
import ComposeImage
import Foundation
import GuestClient
import GuestProto
import GuestSys
import HostProcess

/// A VM to boot under QEMU, and how to supervise it.
public struct GuestLaunchRequest: Sendable {
    /// What to boot. Its accelerator is replaced by each attempt's; a console on standard output is moved
    /// to `RUN-DIR/NAME-console.log` (the KVM probe and the diagnostics read it there).
    public var vm: VirtualMachine
    public var machine: QemuMachineType = .q35
    public var accelerator: AcceleratorChoice = .auto
    /// Where QEMU's and the bridge's logs (and by default the console) go; created if missing.
    public var runDirectory: String
    /// Prefix of the file names in the run directory.
    public var name = "guest"
    public var qemu = "qemu-system-x86_64"
    /// guest-vsock-bridge; nil: the one beside this executable, else PATH.
    public var bridgeExecutable: String?
    /// Hard limit on QEMU's life.
    public var maximumLifetime: Duration = .seconds(3600)
    /// The agent's vsock port.
    public var agentPort: UInt32 = 1024

    public init(vm: VirtualMachine, runDirectory: String) {
        self.vm = vm
        self.runDirectory = runDirectory
    }
}

/// A composed image to boot from its manifest (what `compose-guest boot` does).
public struct BootRequest: Sendable {
    /// The image's manifest (`PATH.manifest.json`).
    public var manifestPath: String
    /// q35 (virtio-pmem root with DAX, bzImage) or microvm (virtio-blk root, vmlinux through PVH).
    public var machine = "q35"
    public var accelerator: AcceleratorChoice = .auto
    public var overrides = LaunchOverrides()
    /// Where the sockets and logs go (created if missing). Unix socket paths must stay under 108 bytes.
    public var runDirectory: String
    /// guest-vsock-bridge; nil: the one beside this executable, else PATH.
    public var bridgeExecutable: String?
    public var qemu = "qemu-system-x86_64"
    /// Hard limit on QEMU's life.
    public var maximumLifetime: Duration = .seconds(3600)
    /// Prefix of the log file names.
    public var name = "guest"

    public init(manifestPath: String, runDirectory: String) {
        self.manifestPath = manifestPath
        self.runDirectory = runDirectory
    }

    /// The launch this boot is: the manifest's VM for the machine, its vsock socket and console in the
    /// run directory.
    public func launchRequest() throws -> GuestLaunchRequest {
        guard let machineType = QemuMachineType(rawValue: machine) else {
            throw LaunchError.badRequest("machine \(machine): expected q35 or microvm")
        }
        let directory = URL(fileURLWithPath: runDirectory).standardizedFileURL.path
        var overrides = self.overrides
        overrides.vsockPath = directory + "/\(name).vsock"
        overrides.accel = "tcg"
        let planner: LaunchPlanner
        do { planner = try LaunchPlanner.load(manifestPath: manifestPath, overrides: overrides) } catch {
            throw LaunchError.badRequest("cannot plan the launch from \(manifestPath): \(error)")
        }
        guard planner.options.vsock != "none" else {
            throw LaunchError.badRequest("the manifest's vsock is \"none\": the agent could not be reached; boot with vsock bridge or vhost")
        }
        var request = GuestLaunchRequest(vm: planner.virtualMachine(for: machineType.target).vm, runDirectory: directory)
        request.machine = machineType
        request.accelerator = accelerator
        request.name = name
        request.qemu = qemu
        request.bridgeExecutable = bridgeExecutable
        request.maximumLifetime = maximumLifetime
        request.agentPort = UInt32(planner.options.agentPort)
        return request
    }
}

/// A running guest: its QEMU, its bridge, its console, and how to reach its agent.
public final class RunningGuest: @unchecked Sendable {
    // Sendable for helper threads: every stored property is immutable after init; the children's status
    // lives in ChildProcess behind its lock.
    public let request: GuestLaunchRequest
    /// The QEMU argv that runs (program first).
    public let qemuArguments: [String]
    /// "kvm" or "tcg".
    public let accelerator: String
    /// Why `auto` ended up on TCG after trying KVM; nil otherwise.
    public let acceleratorNote: String?
    public let consolePath: String
    public let qemuLogPath: String
    public let bridgeLogPath: String
    /// Where the host reaches the agent (hybrid vsock through the bridge, or the kernel's vsock).
    public let agentAddress: AgentAddress
    /// When the QEMU that runs was started.
    public let startedAt: ContinuousClock.Instant
    private let qemuProcess: ChildProcess
    private let bridgeProcess: ChildProcess?

    /// Boots a composed image from its manifest.
    public convenience init(_ boot: BootRequest) throws {
        try self.init(try boot.launchRequest())
    }

    /// Starts the bridge and QEMU; returns once QEMU runs (the guest is still booting).
    public init(_ request: GuestLaunchRequest) throws {
        self.request = request
        let fm = FileManager.default
        try fm.createDirectory(atPath: request.runDirectory, withIntermediateDirectories: true)
        let directory = URL(fileURLWithPath: request.runDirectory).standardizedFileURL.path
        var vm = request.vm
        if case .file(let path) = vm.console { consolePath = path } else {
            consolePath = directory + "/\(request.name)-console.log"
            vm.console = .file(consolePath)
        }
        qemuLogPath = directory + "/\(request.name)-qemu.log"
        bridgeLogPath = directory + "/\(request.name)-bridge.log"
        guard let vsock = vm.vsock else {
            throw LaunchError.badRequest("the VM has no vsock device: its agent could not be reached")
        }
        guard vsock.vhostUserSocket.utf8.count < 108 else {
            throw LaunchError.badRequest("\(vsock.vhostUserSocket) is too long for a Unix socket path (108 bytes); choose a shorter run directory")
        }
        let usesBridge = vsock.qemuTransport == .bridge
        switch vsock.qemuTransport {
        case .bridge: agentAddress = .hybrid(path: vsock.hybridSocket, port: request.agentPort)
        case .kernel: agentAddress = .vsock(cid: vsock.guestCID, port: request.agentPort)
        }
        let bridgeArguments = Array(VsockBridgeCommand.arguments(for: vsock).dropFirst())
        let bridgeExecutable = request.bridgeExecutable ?? Self.besideThisExecutable("guest-vsock-bridge")

        // Under `auto` KVM is tried first and kept only if the guest speaks; the last attempt is always kept.
        var note: String?
        let attempts = request.accelerator.attempts
        for (index, accel) in attempts.enumerated() {
            for path in [consolePath, qemuLogPath, bridgeLogPath] { _ = fm.createFile(atPath: path, contents: nil) }
            let bridge = usesBridge ? try Self.startBridge(bridgeExecutable, bridgeArguments, logPath: bridgeLogPath) : nil
            vm.accelerator = accel
            let argv = QemuCommand.arguments(for: vm, machine: request.machine, binary: request.qemu)
            var command = ChildCommand(argv[0], Array(argv.dropFirst()))
            command.output = .file(qemuLogPath)
            command.error = .standardOutput
            command.extraDescriptors = QemuCommand.inheritedDescriptors(for: vm)
            command.lifetime = request.maximumLifetime
            let qemu: ChildProcess
            do { qemu = try ChildProcess(command) } catch {
                bridge?.stop(grace: .seconds(2))
                if error.reason == .notFound { throw LaunchError.missingProgram(request.qemu) }
                throw LaunchError.failed("\(error)")
            }
            let last = index == attempts.count - 1
            if last || Self.waitForConsoleBytes(consolePath, process: qemu, timeout: AcceleratorChoice.kvmSilenceLimit) {
                (qemuProcess, bridgeProcess, accelerator, startedAt) = (qemu, bridge, accel, qemu.startedAt)
                qemuArguments = argv
                acceleratorNote = note
                return
            }
            let log = (try? String(contentsOfFile: qemuLogPath, encoding: .utf8)) ?? ""
            note = "\(accel) was tried first and gave up: " + (qemu.isRunning
                ? "the guest wrote nothing to its console within \(AcceleratorChoice.kvmSilenceLimit)"
                : "QEMU ended: \(log.split(separator: "\n").last.map(String.init) ?? "no message")")
            qemu.stop(grace: .seconds(2))
            bridge?.stop(grace: .seconds(2))
        }
        throw LaunchError.badRequest("no accelerator to try for \(request.accelerator)")
    }

    /// Starts guest-vsock-bridge and returns once it listens for QEMU (its log says "waiting for QEMU").
    public static func startBridge(_ executable: String, _ arguments: [String], logPath: String) throws -> ChildProcess {
        var command = ChildCommand(executable, arguments)
        command.output = .file(logPath)
        command.error = .standardOutput
        let bridge: ChildProcess
        do { bridge = try ChildProcess(command) } catch {
            if error.reason == .notFound { throw LaunchError.missingProgram(executable) }
            throw LaunchError.failed("\(error)")
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if log.contains("waiting for QEMU") { return bridge }
            guard bridge.isRunning else { throw LaunchError.failed("guest-vsock-bridge (\(executable)) ended at start: \(log)") }
            guard ContinuousClock.now < deadline else {
                bridge.stop(grace: .seconds(2))
                throw LaunchError.failed("guest-vsock-bridge did not start listening within 30 s: \(log)")
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    static func waitForConsoleBytes(_ path: String, process: ChildProcess, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, process.isRunning {
            if let size = try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int, size > 0 { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return false
    }

    /// `name` in this executable's directory if it is there, else the bare name (searched in PATH).
    static func besideThisExecutable(_ name: String) -> String {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let candidate = exe.deletingLastPathComponent().appendingPathComponent(name).path
        return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : name
    }

    // MARK: The guest

    /// QEMU's pid (also its process group); the bridge's, when there is one.
    public var qemuPID: pid_t { qemuProcess.pid }
    public var bridgePID: pid_t? { bridgeProcess?.pid }

    /// Everything the serial console has shown so far.
    public var console: String { (try? String(contentsOfFile: consolePath, encoding: .utf8)) ?? "" }

    /// The console's last `lines` lines.
    public func consoleTail(_ lines: Int = 40) -> String {
        console.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    public var qemuLog: String { (try? String(contentsOfFile: qemuLogPath, encoding: .utf8)) ?? "" }
    public var bridgeLog: String { (try? String(contentsOfFile: bridgeLogPath, encoding: .utf8)) ?? "" }
    public var isRunning: Bool { qemuProcess.isRunning }

    /// Connects to the agent as soon as it answers GetInfo; throws with the console's tail when QEMU
    /// ends first or the deadline passes.
    public func connectAgent(timeout: Duration = .seconds(300)) throws -> (client: GuestClient, info: GuestInfoSnapshot) {
        let deadline = ContinuousClock.now + timeout
        var lastError = "no attempt yet"
        while true {
            do {
                let client = try GuestClient(address: agentAddress)
                let info = try client.info()
                return (client, GuestInfoSnapshot(info: info, answeredAfter: ContinuousClock.now - startedAt))
            } catch {
                lastError = "\(error)"
            }
            guard qemuProcess.isRunning else {
                throw LaunchError.failed("QEMU ended (\(qemuProcess.exitStatus.map { "\($0)" } ?? "?")) before the agent answered (last: \(lastError))\n\(diagnostics())")
            }
            guard ContinuousClock.now < deadline else {
                throw LaunchError.failed("the agent at \(agentAddress) did not answer within \(timeout) (last: \(lastError))\n\(diagnostics())")
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// Asks the agent to power the guest off and waits for QEMU to end by itself; returns how long that took,
    /// or throws when QEMU still runs at the deadline (and then stops it).
    public func shutdown(_ client: GuestClient, timeout: Duration = .seconds(60)) throws -> Duration {
        let asked = ContinuousClock.now
        do { try client.shutdown(reboot: false) } catch {
            // The agent may be gone before its answer arrives: what counts is that QEMU ends.
            if qemuProcess.isRunning, case .rpc = error { throw LaunchError.failed("Shutdown refused: \(error)") }
        }
        guard let status = qemuProcess.wait(timeout: timeout) else {
            let tail = consoleTail()
            stop()
            throw LaunchError.failed("QEMU still ran \(timeout) after Shutdown; stopped it. Console:\n\(tail)")
        }
        let took = ContinuousClock.now - asked
        bridgeProcess?.stop(grace: .seconds(5))
        guard status == .exited(code: 0) else {
            throw LaunchError.failed("QEMU ended with \(status) after Shutdown\n\(diagnostics())")
        }
        return took
    }

    /// Waits for QEMU to end by itself; how it ended, or nil at the deadline.
    public func waitForExit(timeout: Duration) -> WaitStatus? {
        let status = qemuProcess.wait(timeout: timeout)
        if status != nil { bridgeProcess?.stop(grace: .seconds(5)) }
        return status
    }

    /// Ends QEMU and the bridge (SIGTERM, then SIGKILL). Idempotent.
    public func stop() {
        qemuProcess.stop(grace: .seconds(5))
        bridgeProcess?.stop(grace: .seconds(5))
    }

    /// The QEMU command, its log, the bridge's log and the console: what a failed boot should show.
    public func diagnostics() -> String {
        """
        ---- QEMU (\(accelerator)): \(ShellQuoting.line(qemuArguments))
        ---- QEMU log (\(qemuLogPath)):
        \(qemuLog)
        ---- bridge log (\(bridgeLogPath)), last lines:
        \(bridgeLog.split(separator: "\n").suffix(15).joined(separator: "\n"))
        ---- console (\(consolePath)):
        \(console)
        ---- end
        """
    }

    deinit { stop() }
}

/// The agent's first GetInfo answer and when it came (host time since QEMU started).
public struct GuestInfoSnapshot: Sendable {
    public let info: Guestkit_V1_GetInfoResponse
    public let answeredAfter: Duration

    /// CLOCK_BOOTTIME of a boot stage in nanoseconds, if init recorded it.
    public func stage(_ name: String) -> UInt64? { info.bootStages.first { $0.name == name }?.boottimeNs }

    /// The boot timeline as aligned lines: stage, guest time, and the step from the previous stage.
    public var timelineLines: [String] {
        var previous: UInt64 = 0
        return info.bootStages.map { stage in
            defer { previous = stage.boottimeNs }
            return "  \(stage.name.padding(toLength: 15, withPad: " ", startingAt: 0)) \(Self.ms(stage.boottimeNs)) ms  (+\(Self.ms(stage.boottimeNs - min(previous, stage.boottimeNs))) ms)"
        }
    }

    static func ms(_ ns: UInt64) -> String {
        let tenths = ns / 100_000
        return "\(tenths / 10).\(tenths % 10)"
    }
}
