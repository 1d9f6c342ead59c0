// Containers inside the VM (issue 14's tests 1 and 5 on the guest kernel, cgroup v2 only): a test image
// composed here carries Debian's runc (compose-guest's ELF closure brings libseccomp), busybox, the probe
// and a rootfs template; runc and the agent's engine run the same bundles side by side in one guest, and
// the probe's reports must match line by line, cgroup files included. Then containerd's default spec
// through the agent: output, exit code, exec, kill, and an OOM kill from an update of memory.max that
// leaves the agent (in its protected cgroup, oom_score_adj -1000) serving.
import Foundation
import GuestClient
import GuestProto
import GuestSys
import GuestTestSupport
import Testing

@Suite(.serialized) final class ContainerVMTests {
    let image: ScratchDirectory
    let session: GuestUnderTest.Session

    /// The release binaries `make test` built (GUESTKIT_RELEASE_DIR) and our kernel (GUESTKIT_KERNEL_DIR).
    static func composeImage(into scratch: ScratchDirectory) throws -> String {
        let environment = ProcessInfo.processInfo.environment
        let release = try #require(environment["GUESTKIT_RELEASE_DIR"], "GUESTKIT_RELEASE_DIR is unset: run through make test")
        let kernel = try #require(environment["GUESTKIT_KERNEL_DIR"], "GUESTKIT_KERNEL_DIR is unset: run through make test")
        let tools = scratch.path + "/tools/bin"
        try FileManager.default.createDirectory(atPath: tools, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: tools + "/busybox")
        for applet in try Command.run(["/bin/busybox", "--list"]).stdout.split(separator: "\n") where applet != "busybox" {
            try? FileManager.default.createSymbolicLink(atPath: tools + "/" + applet, withDestinationPath: "busybox")
        }
        try ContainerFixtures.makeRootfs(at: scratch.path + "/template")
        let output = scratch.path + "/containers.img"
        let result = try Command.run([BuiltProducts.path("compose-guest"), "image", "--init", release + "/guest-init",
                                      "--agent", release + "/guest-agent", "--add", tools + ":/bin",
                                      "--add", "/usr/sbin/runc:/usr/sbin/runc", "--add", try ContainerFixtures.probe() + ":/usr/local/bin/probe",
                                      "--add", scratch.path + "/template:/opt/engine/rootfs", "--strip", "--format", "ext4", "--dax",
                                      "--memory", "512", "--kernel-dir", kernel, "-o", output])
        guard result.succeeded else { throw RunningAgentError("compose-guest image failed: \(result)") }
        return output + ".manifest.json"
    }

    init() throws {
        image = try ScratchDirectory("engine-vm")
        session = try GuestUnderTest.Session(manifest: try Self.composeImage(into: image))
    }

    var client: GuestClient { session.client }

    /// Runs a guest command (stdin optional) and returns its exit and output.
    func run(_ args: [String], stdin: [UInt8]? = nil) throws -> (exit: ProcessExit, stdout: String, stderr: String) {
        var request = Guestkit_V1_StartProcessRequest()
        request.args = args
        request.env = ["PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        request.stdout = true
        request.stderr = true
        request.stdin = stdin != nil
        let started = try client.startProcess(request)
        let out = StreamReader(try client.attach(started.id, .stdout))
        let err = StreamReader(try client.attach(started.id, .stderr))
        if let stdin {
            let input = try client.attach(started.id, .stdin)
            try input.writeAll(stdin)
            try Sockets.shutdown(input, .write)
            input.closeQuietly()
        }
        let exit = try client.wait(started.id, timeoutNanoseconds: 300_000_000_000)
        return (exit, String(decoding: try out.bytes(), as: UTF8.self), String(decoding: try err.bytes(), as: UTF8.self))
    }

    /// A bundle in the guest: the template copied to /run/engine/NAME/rootfs and `spec` as its config.json.
    func bundle(_ name: String, _ spec: SpecObject) throws -> String {
        let path = "/run/engine/" + name
        let copy = try run(["sh", "-c", "mkdir -p \(path) && cp -a /opt/engine/rootfs \(path)/rootfs && cat > \(path)/config.json"],
                           stdin: Array(try JSONSerialization.data(withJSONObject: spec, options: [.sortedKeys])))
        guard copy.exit == ProcessExit(code: 0, signal: 0) else { throw RunningAgentError("bundle \(name): \(copy)") }
        return path
    }

    /// create, attach stdout and stderr, start, wait, delete through the agent.
    func runThroughAgent(_ bundle: String, id: String) throws -> (exit: ProcessExit, stdout: String, stderr: String) {
        var request = Guestkit_V1_CreateContainerRequest()
        request.id = id
        request.bundle = bundle
        request.stdout = true
        request.stderr = true
        do {
            _ = try client.createContainer(request)
        } catch {
            return (ProcessExit(code: 1, signal: 0), "", "\(error)")
        }
        defer { try? client.deleteContainer(id, force: true) }
        let out = StreamReader(try client.attach(id, .stdout, container: id))
        let err = StreamReader(try client.attach(id, .stderr, container: id))
        try client.startContainer(id)
        let exit = try client.wait(id, container: id, timeoutNanoseconds: 300_000_000_000)
        return (exit, String(decoding: try out.bytes(), as: UTF8.self), String(decoding: try err.bytes(), as: UTF8.self))
    }

    /// Creates the container with stdout attached, starts it, and returns the stdout connection.
    func createAndStart(_ bundle: String, id: String) throws -> FileDescriptor {
        var request = Guestkit_V1_CreateContainerRequest()
        request.id = id
        request.bundle = bundle
        request.stdout = true
        _ = try client.createContainer(request)
        let out = try client.attach(id, .stdout, container: id)
        try client.startContainer(id)
        return out
    }

    /// The cases compared in the guest: those where cgroup v2 or the guest kernel matters, plus a broad one.
    static let cases: [DifferentialCase] = differentialCases.filter {
        ["containerd-default", "all-capabilities", "user-with-groups", "rlimits", "readonly-root", "masked-and-readonly-paths",
         "tmpfs-mounts", "sysctls", "devices", "seccomp-errno-and-arguments", "resources", "cgroup-mount", "user-namespace"].contains($0.name)
    } + [
        DifferentialCase(name: "resources-v2") { spec, _ in
            spec.with("linux") {
                $0["resources"] = ["memory": ["limit": 100_000_000, "reservation": 50_000_000, "swap": 150_000_000],
                                   "cpu": ["shares": 2048, "quota": 20000, "period": 50000, "cpus": "0", "mems": "0"],
                                   "pids": ["limit": 64], "blockIO": ["weight": 300],
                                   "unified": ["memory.high": "90000000", "pids.max": "48"]]
            }
        },
        DifferentialCase(name: "cgroup-namespace-mount") { spec, _ in
            spec.with("linux") { $0["namespaces"] = ($0["namespaces"] as? [SpecObject] ?? []) + [["type": "cgroup"]] }
            spec.appendMount(["destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                              "options": ["rw", "nosuid", "noexec", "nodev", "relatime"]])
        },
    ]

    @Test func probeSeesTheSameUnderRuncAndTheAgentInTheGuest() throws {
        var mismatches: [String] = []
        for testCase in Self.cases {
            let spec = try testCase.spec(host: "/opt/engine/rootfs/home", cgroupsPath: "/engine-vm/\(testCase.name)")
            let ours = try bundle(testCase.name + "-gk", spec)
            let theirs = try bundle(testCase.name + "-runc", spec)
            if let owner = testCase.rootfsOwner {
                for path in [ours, theirs] { _ = try run(["chown", "-R", "\(owner.uid):\(owner.gid)", path + "/rootfs"]) }
            }
            let runc = try run(["runc", "--root", "/run/runc", "run", "--bundle", theirs, "vm-\(testCase.name)"])
            let guestkit = try runThroughAgent(ours, id: "vm-\(testCase.name)")
            if guestkit.exit.shellCode != runc.exit.shellCode {
                mismatches.append("\(testCase.name): exit GuestKit \(guestkit.exit), runc \(runc.exit)\n  GuestKit: \(guestkit.stderr)\n  runc: \(runc.stderr)")
            }
            let comparison = ProbeComparison(ours: guestkit.stdout, theirs: runc.stdout, allowed: testCase.differences)
            if !comparison.unexplained.isEmpty {
                mismatches.append("\(testCase.name):\n  " + comparison.unexplained.joined(separator: "\n  "))
            }
            if runc.exit.shellCode == 0 && !guestkit.stdout.contains("cgroupfile memory.max") {
                mismatches.append("\(testCase.name): the probe printed no cgroup files: \(guestkit)")
            }
            _ = try run(["rm", "-rf", ours, theirs])
        }
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
    }

    @Test func containerdsDefaultSpecRunsWithOutputExitExecAndKill() throws {
        var spec = try ContainerFixtures.containerdDefaultSpec()
        spec.with("process") {
            $0["args"] = ["sh", "-c", "echo started; trap 'echo term; exit 7' TERM; while true; do sleep 0.1; done"]
            $0["env"] = ["PATH=/bin"]
        }
        spec["hostname"] = "vm-box"
        let out = try createAndStart(try bundle("default", spec), id: "vm-default")
        defer { try? client.deleteContainer("vm-default", force: true) }
        #expect(String(decoding: try out.read(upTo: 8), as: UTF8.self) == "started\n")

        var exec = Guestkit_V1_ExecProcessRequest()
        exec.containerID = "vm-default"
        exec.processJson = [UInt8](try JSONSerialization.data(withJSONObject: ["args": ["sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '"],
                                                                       "env": ["PATH=/bin"], "cwd": "/"]))
        exec.stdout = true
        let started = try client.execProcess(exec)
        let execOut = StreamReader(try client.attach(started.id, .stdout, container: "vm-default"))
        #expect(try client.wait(started.id, container: "vm-default", timeoutNanoseconds: 120_000_000_000) == ProcessExit(code: 0, signal: 0))
        #expect(String(decoding: try execOut.bytes(), as: UTF8.self).hasPrefix("vm-box\nsh -c echo started"))

        try client.signal("vm-default", Signal.terminate, container: "vm-default")
        #expect(try client.wait("vm-default", container: "vm-default", timeoutNanoseconds: 120_000_000_000) == ProcessExit(code: 7, signal: 0))
        let rest = String(decoding: try out.readToEnd(), as: UTF8.self)
        out.closeQuietly()
        #expect(rest == "term\n")
        try client.deleteContainer("vm-default")
        // containerd's default cgroupsPath is /default.
        let left = try run(["sh", "-c", "test -e /sys/fs/cgroup/default && echo cgroup left; grep -c /run/engine/default /proc/self/mountinfo"])
        #expect(left.stdout == "0\n", "left behind: \(left)")
    }

    @Test func anUpdateOfMemoryMaxGetsAHungryProcessOOMKilledAndTheAgentLives() throws {
        var spec = try ContainerFixtures.containerdDefaultSpec()
        spec.with("process") { $0["args"] = ["probe", "hold", "32"]; $0["env"] = ["PATH=/bin"] }
        let out = try createAndStart(try bundle("oom", spec), id: "vm-oom")
        defer { try? client.deleteContainer("vm-oom", force: true) }
        defer { out.closeQuietly() }
        #expect(String(decoding: try out.read(upTo: 5), as: UTF8.self) == "held\n")
        let stats = try client.containerStats("vm-oom")
        #expect(stats.memoryCurrent >= 30 << 20, "memory.current \(stats.memoryCurrent) after the probe touched 32 MiB")
        let known = try client.containerState("vm-oom").oomKills
        let watcher = try GuestClient(address: client.address)
        let reported = Locked<UInt64?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            reported.set(try? watcher.waitForOOM("vm-oom", known: known, timeoutNanoseconds: 120_000_000_000))
            done.signal()
        }
        try client.updateContainer("vm-oom", resources: Array(#"{"memory":{"limit":8388608,"swap":8388608}}"#.utf8))
        #expect(try client.wait("vm-oom", container: "vm-oom", timeoutNanoseconds: 120_000_000_000) == ProcessExit(code: 0, signal: Signal.kill))
        done.wait()
        #expect((reported.get() ?? 0) > known, "the OOM kill was not reported")
        #expect(try client.info().agentVersion == "0.1.0", "the agent stopped answering")
        // The agent keeps its floor; what it starts runs outside it, in a cgroup without one.
        let protection = try run(["sh", "-c", "cat /proc/$PPID/oom_score_adj; cat /proc/$PPID/cgroup; cat /sys/fs/cgroup/guestkit-agent/memory.min; "
                                  + "cat /proc/$$/cgroup; cat /sys/fs/cgroup/guestkit-processes/memory.min"])
        #expect(protection.stdout == "-1000\n0::/guestkit-agent\n16777216\n0::/guestkit-processes\n0\n", "\(protection)")
    }
}
