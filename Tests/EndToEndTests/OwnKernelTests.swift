// The product end to end on our own kernel: the composed image boots on QEMU q35 (bzImage, rootfs on
// virtio-pmem with DAX) and microvm (vmlinux through PVH, rootfs on virtio-blk: microvm's mmio virtio-pmem
// gets no device-memory window, so no DAX there — init says so and carries on), and the host runs processes
// in it over real virtio-vsock through guest-vsock-bridge. One boot per machine carries every check, in
// order, ending with the agent's restart and the power-off: boots are the expensive part under TCG.
import Foundation
import GuestLaunch
import GuestClient
import GuestProto
import GuestSys
import GuestTestSupport
import Testing

@Suite(.serialized)
struct OwnKernelTests {
    init() throws {
        try #require(GuestUnderTest.bootable, "needs GUESTKIT_GUEST_DIR (make guest-image), qemu-system-x86_64 and guest-vsock-bridge")
    }

    /// How long `Shutdown` may take until QEMU has exited by itself (TCG, loaded machine; a KVM guest
    /// takes well under a second). init's grace period for processes is 2 s of that.
    static let shutdownBound: Duration = .seconds(60)

    @Test(arguments: ["q35", "microvm"])
    func guestServesTheHost(machine: String) throws {
        let session = try GuestUnderTest.Session(machine: machine)
        var passed = false
        defer { if !passed { print(session.guest.diagnostics()) } }
        let expectDax = machine == "q35"

        // Boot timeline and the root's DAX state, from GetInfo, checked against the guest's own view.
        let info = session.first.info
        let stages = info.bootStages.map(\.name)
        #expect(stages.first == "init_started", "\(stages)")
        for stage in ["mounts_ready", "agent_started", "agent_ready"] { #expect(stages.contains(stage), "\(stage) missing: \(stages)") }
        let times = info.bootStages.map(\.boottimeNs)
        #expect(times == times.sorted() && times.allSatisfy { $0 > 0 }, "\(info.bootStages)")
        #expect(info.kernelRelease.hasPrefix("6.12"), "\(info.kernelRelease)")
        #expect(info.rootDax == expectDax && info.root.dax == expectDax, "\(info.root)")
        #expect(info.root.source == (expectDax ? "/dev/pmem0" : "/dev/vda"), "\(info.root)")
        let mounts = try session.run(["cat", "/proc/mounts"])
        let rootLine = try #require(mounts.stdout.split(separator: "\n").first { $0.split(separator: " ").dropFirst().first == "/" && !$0.hasPrefix("rootfs") },
                                    "no / in \(mounts.stdout)")
        #expect(rootLine.contains("dax") == expectDax, "\(rootLine)")
        let device = expectDax ? "pmem0" : "vda"
        let daxAttribute = try session.run(["cat", "/sys/block/\(device)/queue/dax"])
        #expect(daxAttribute.stdout == (expectDax ? "1\n" : "0\n"), "\(daxAttribute)")

        // init brought the loopback interface up (IFF_UP in its flags).
        let loFlags = try session.run(["cat", "/sys/class/net/lo/flags"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Int(loFlags.dropFirst(2), radix: 16).map { $0 & 1 == 1 } == true, "lo flags \(loFlags)")

        // stdout, stderr and the exit code.
        let mixed = try session.run(["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 7"])
        #expect(mixed.exit == ProcessExit(code: 7, signal: 0))
        #expect(mixed.stdout == "to-stdout\n" && mixed.stderr == "to-stderr\n", "\(mixed)")
        let missing = #expect(throws: GuestClientError.self) { _ = try session.run(["/no/such/program"]) }
        #expect(missing?.statusCode == .notFound, "\(String(describing: missing))")

        // A signal to a sleeping process.
        var sleeper = Guestkit_V1_StartProcessRequest()
        sleeper.args = ["sleep", "600"]
        let sleeping = try session.client.startProcess(sleeper)
        try session.client.signal(sleeping.id, Signal.terminate)
        #expect(try session.client.wait(sleeping.id, timeoutNanoseconds: 60_000_000_000) == ProcessExit(code: 0, signal: Signal.terminate))

        // A terminal: the process sees a pty of the size asked for.
        var onTerminal = Guestkit_V1_StartProcessRequest()
        onTerminal.args = ["sh", "-c", "tty; stty size"]
        onTerminal.terminal = true
        onTerminal.terminalSize.rows = 33
        onTerminal.terminalSize.columns = 101
        onTerminal.stdout = true
        let terminal = try session.client.startProcess(onTerminal)
        let terminalOutput = StreamReader(try session.client.attach(terminal.id, .stdout))
        #expect(try session.client.wait(terminal.id, timeoutNanoseconds: 60_000_000_000) == ProcessExit(code: 0, signal: 0))
        let screen = String(decoding: try terminalOutput.bytes(), as: UTF8.self)
        #expect(screen.contains("/dev/pts/") && screen.contains("33 101"), "\(screen.debugDescription)")

        // 50 execs at once, on one multiplexed connection.
        let results = Locked<[Result<(exit: ProcessExit, stdout: String, stderr: String), any Error>?]>(Array(repeating: nil, count: 50))
        DispatchQueue.concurrentPerform(iterations: 50) { index in
            let result = Result { try session.run(["sh", "-c", "echo exec-\(index); exit \(index % 5)"]) }
            results.update { $0[index] = result }
        }
        for (index, result) in results.get().enumerated() {
            switch result {
            case .success(let run):
                #expect(run.exit == ProcessExit(code: Int32(index % 5), signal: 0) && run.stdout == "exec-\(index)\n", "exec \(index): \(run)")
            case .failure(let error):
                Issue.record("exec \(index): \(error)")
            case nil:
                Issue.record("exec \(index) never ran")
            }
        }

        // No output lost across the VM boundary: write 256 KiB and exit at once, 100 times.
        let expected = String(repeating: "0123456789abcde\n", count: 16_384)
        var short: [String] = []
        for run in 0..<100 {
            let result = try session.run(["sh", "-c", "yes 0123456789abcde | head -c 262144"])
            if result.stdout != expected || result.exit != ProcessExit(code: 0, signal: 0) {
                short.append("run \(run): \(result.stdout.utf8.count) bytes, \(result.exit)")
            }
        }
        #expect(short.isEmpty, "\(short)")

        // The agent killed inside the guest: init restarts it and the next exec works.
        let agentPid = try session.run(["pidof", "guest-agent"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Int(agentPid) != nil, "pidof: \(agentPid.debugDescription)")
        var killer = Guestkit_V1_StartProcessRequest()
        killer.args = ["kill", "-9", agentPid]
        _ = try? session.client.startProcess(killer)
        // The old agent's connection breaks when it dies; only then is a new connection the new agent's.
        let deadline = ContinuousClock.now + .seconds(60)
        while (try? session.client.info()) != nil, ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let (restarted, afterRestart) = try session.guest.connectAgent(timeout: .seconds(120))
        let newPid = try session.run(["pidof", "guest-agent"], on: restarted).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(newPid != agentPid && Int(newPid) != nil, "agent pid \(agentPid) → \(newPid)")
        let restarts = max(afterRestart.info.agentRestarts, try restarted.info().agentRestarts)
        #expect(restarts >= 1, "init reports \(restarts) agent restarts")
        let echo = try session.run(["echo", "after-restart"], on: restarted)
        #expect(echo.stdout == "after-restart\n" && echo.exit == ProcessExit(code: 0, signal: 0), "\(echo)")

        // Power-off: QEMU exits by itself, status 0, within the bound.
        let took = try session.guest.shutdown(restarted, timeout: Self.shutdownBound)
        print("\(machine): QEMU exited \(took) after Shutdown; agent answered \(session.first.answeredAfter) after QEMU started")
        passed = true
    }
}

