import ContentHash
import Foundation
import GuestSys
import GuestTestSupport
import OCILayout
import Testing

/// The shim driven by Debian's containerd and ctr, started by the test, against real guests: every
/// `ctr run --runtime io.containerd.guestkit.v1` boots a micro-VM from the composed guest image
/// (GUESTKIT_GUEST_DIR) and runs the container in it. Serialized: each test boots VMs, and TCG guests on a
/// loaded host miss timers.
@Suite(.serialized)
struct ContainerdShimTests {
    static let runtime = "io.containerd.guestkit.v1"

    /// The shim's configuration for the test guest.
    static func shimConfig(bootTimeout: Int, kernelArguments: String, runRoot: String) throws -> String {
        let guestDirectory = try #require(ProcessInfo.processInfo.environment["GUESTKIT_GUEST_DIR"],
                                          "GUESTKIT_GUEST_DIR must name the composed guest (make test sets it)")
        let manifest = guestDirectory + "/rootfs.img.manifest.json"
        #expect(FileManager.default.fileExists(atPath: manifest), "no guest image at \(manifest): run make guest-image")
        return """
            [guest]
            manifest = "\(manifest)"
            accelerator = "tcg"
            memory_mib = 256
            boot_timeout_seconds = \(bootTimeout)
            kernel_args = "\(kernelArguments)"
            [shim]
            log_level = "debug"
            bridge = "\(BuiltProducts.path("guest-vsock-bridge"))"
            run_root = "\(runRoot)"
            """
    }

    static func harness(bootTimeout: Int = 180, kernelArguments: String = "") throws -> ContainerdHarness {
        let harness = try ContainerdHarness { runRoot in
            try shimConfig(bootTimeout: bootTimeout, kernelArguments: kernelArguments, runRoot: runRoot)
        }
        try harness.importImage(try BusyboxImage.build(in: harness.scratch.file("image")))
        return harness
    }

    /// `ctr run --rm --runtime guestkit IMAGE ID ARGS…`.
    static func run(_ h: ContainerdHarness, _ id: String, _ arguments: [String], flags: [String] = [],
                    runtime: String = runtime, input: Data? = nil) throws -> CommandResult {
        try h.ctr(["run", "--rm", "--runtime", runtime] + flags + [BusyboxImage.reference, id] + arguments, input: input)
    }

    @Test func runsEchoAndReportsExitCodes() throws {
        let h = try Self.harness()
        let hello = try Self.run(h, "echo1", ["echo", "hello"])
        #expect(hello.succeeded, "\(hello)\n\(h.log.suffix(4000))")
        #expect(hello.stdout == "hello\n")

        let three = try Self.run(h, "exit3", ["sh", "-c", "exit 3"])
        #expect(three.status == 3 && !three.signaled, "\(three)")

        // SIGKILL from outside (a container's PID 1 cannot be killed from inside its PID namespace).
        let killed = try Self.runKilledFromOutside(h, "kill9", runtime: Self.runtime)
        #expect(killed.status == 137, "\(killed)")
        #expect(h.leftoversAfterSettling().isEmpty, "\(h.leftovers())")
    }

    /// `ctr run --rm … sleep 600` killed with `ctr task kill -s SIGKILL` once it runs; ctr's result.
    static func runKilledFromOutside(_ h: ContainerdHarness, _ id: String, runtime: String) throws -> CommandResult {
        let result = Locked<CommandResult?>(nil)
        let runner = Thread {
            result.set(try? run(h, id, ["sleep", "600"], runtime: runtime))
        }
        runner.start()
        let deadline = ContinuousClock.now + .seconds(240)
        while ContinuousClock.now < deadline {
            if let state = try? h.ctr(["task", "ls"]), state.stdout.contains(id), state.stdout.contains("RUNNING") { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        try h.ctr(["task", "kill", "-s", "SIGKILL", id])
        while result.get() == nil && ContinuousClock.now < deadline + .seconds(60) { Thread.sleep(forTimeInterval: 0.1) }
        return try #require(result.get(), "ctr run of \(id) did not end after SIGKILL")
    }

    /// The commands of the comparison, each printed with its exit code.
    static let probeScript = """
        for c in 'id' 'hostname' 'grep Cap /proc/self/status' 'ls /' 'env | sort' 'ulimit -a' 'mount | sort' \
                 'cat /etc/resolv.conf' 'whoami' 'pwd' 'umask' 'ls /dev' 'cat /proc/1/cmdline | tr "\\0" " "' \
                 'grep -E "^(NoNewPrivs|Seccomp):" /proc/self/status'; do
          echo "=== $c"; sh -c "$c" 2>&1; echo "--- exit $?"; done
        """

    /// Splits the probe's output into its sections: command → output and exit line.
    static func sections(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        var current: String?
        var lines: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("=== ") {
                if let current { result[current] = lines.joined(separator: "\n") }
                current = String(line.dropFirst(4))
                lines = []
            } else {
                lines.append(String(line))
            }
        }
        if let current { result[current] = lines.joined(separator: "\n") }
        return result
    }

    @Test func seesWhatRuncShows() throws {
        let h = try Self.harness()
        let ours = try Self.run(h, "probe-gk", ["sh", "-c", Self.probeScript])
        let runc = try Self.run(h, "probe-runc", ["sh", "-c", Self.probeScript], runtime: "io.containerd.runc.v2")
        #expect(ours.succeeded, "\(ours)")
        #expect(runc.succeeded, "\(runc)")
        let a = Self.sections(ours.stdout), b = Self.sections(runc.stdout)
        #expect(a.count == 14 && Set(a.keys) == Set(b.keys), "sections: \(a.keys.sorted()) vs \(b.keys.sorted())")
        // Deliberate differences, with their reason:
        // - `mount`: the root is the VM's 9p share of the snapshot (runc: the host's overlay), and the guest
        //   kernel is cgroup v2 only (runc on this host: a tmpfs with the v1 hierarchies). Compared below on
        //   the mount points only.
        // - `ulimit -a`: RLIMIT_SIGPENDING and RLIMIT_NPROC are not in containerd's spec, so both runtimes
        //   leave the kernel's defaults, which the kernel derives from the machine's memory (the VM has
        //   less than the host). Compared on every other limit.
        let different: Set<String> = ["mount | sort", "ulimit -a"]
        for key in a.keys.sorted() where !different.contains(key) {
            #expect(a[key] == b[key], "\(key): guestkit\n\(a[key] ?? "")\n-- runc\n\(b[key] ?? "")")
        }
        func fixedLimits(_ text: String?) -> [Substring] {
            (text ?? "").split(separator: "\n").filter { !$0.contains("pending signals") && !$0.contains("user processes") }
        }
        #expect(fixedLimits(a["ulimit -a"]).count > 8 && fixedLimits(a["ulimit -a"]) == fixedLimits(b["ulimit -a"]),
                "ulimit -a: guestkit\n\(a["ulimit -a"] ?? "")\n-- runc\n\(b["ulimit -a"] ?? "")")
        func mountPoints(_ text: String?) -> [String] {
            (text ?? "").split(separator: "\n").compactMap { line in
                let words = line.split(separator: " ")
                guard words.count > 2, words[1] == "on" else { return nil }
                let point = String(words[2])
                return point.hasPrefix("/sys/fs/cgroup/") ? nil : point
            }.sorted()
        }
        // - /proc/keys: runc masks it with /dev/null because the host kernel has it; the guest kernel has no
        //   key retention service (CONFIG_KEYS), so there is nothing to mask (containerd's default seccomp
        //   profile refuses the keyring calls anyway).
        #expect(mountPoints(a["mount | sort"]) == mountPoints(b["mount | sort"]).filter { $0 != "/proc/keys" },
                "mount points: \(mountPoints(a["mount | sort"])) vs \(mountPoints(b["mount | sort"]))")
        #expect(h.leftoversAfterSettling().isEmpty, "\(h.leftovers())")
    }

    @Test func detachedTaskLifecycle() throws {
        let h = try Self.harness()
        let id = "life1"
        let run = try h.ctr(["run", "-d", "--runtime", Self.runtime, BusyboxImage.reference, id,
                             "sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.2; done"])
        #expect(run.succeeded, "\(run)\n\(h.log.suffix(3000))")
        let listed = try h.ctr(["task", "ls"])
        #expect(listed.stdout.contains(id) && listed.stdout.contains("RUNNING"), "\(listed)")

        let exec = try h.ctr(["task", "exec", "--exec-id", "e1", id, "sh", "-c", "echo exec-ok; cat /proc/1/cmdline | tr '\\0' ' '"])
        #expect(exec.succeeded && exec.stdout.hasPrefix("exec-ok\n"), "\(exec)")
        #expect(exec.stdout.contains("sh -c i=0"), "the exec sees the container's PID 1: \(exec.stdout)")

        let ps = try h.ctr(["task", "ps", id])
        #expect(ps.succeeded && ps.stdout.split(separator: "\n").count >= 2, "\(ps)")

        func count() throws -> Int {
            Int(try h.ctr(["task", "exec", "--exec-id", "c\(UInt32.random(in: 0...UInt32.max))", id, "cat", "/tmp/count"])
                .stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        }
        #expect(try h.ctr(["task", "pause", id]).succeeded)
        #expect(try h.ctr(["task", "ls"]).stdout.contains("PAUSED"))
        let frozen = try h.ctr(["task", "metrics", id])
        #expect(frozen.succeeded && frozen.stdout.contains("memory"), "metrics: \(frozen)")
        #expect(try h.ctr(["task", "resume", id]).succeeded)
        let before = try count()
        Thread.sleep(forTimeInterval: 1.5)
        let after = try count()
        #expect(before > 0 && after > before, "the counter runs after resume: \(before) -> \(after)")

        #expect(try h.ctr(["task", "kill", "-s", "SIGKILL", id]).succeeded)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline, !(try h.ctr(["task", "ls"]).stdout.contains("STOPPED")) {
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(try h.ctr(["task", "ls"]).stdout.contains("STOPPED"))
        #expect(try h.ctr(["task", "delete", id]).succeeded)
        #expect(try h.ctr(["container", "rm", id]).succeeded)
        #expect(!(try h.ctr(["task", "ls"]).stdout.contains(id)))
        #expect(h.leftoversAfterSettling().isEmpty, "\(h.leftovers())")
    }

    @Test func terminalHasTheSizeSet() throws {
        let h = try Self.harness()
        // ctr takes the size of its own terminal; under `script` that is a pty of 40 rows by 100 columns.
        let command = "stty rows 40 cols 100; ctr --address \(h.socket) run --rm -t --fifo-dir \(h.fifoDirectory) --runtime \(Self.runtime) \(BusyboxImage.reference) tty1 sh -c 'tty; stty size'"
        let result = try Command.run(["script", "-qec", command, "/dev/null"], timeout: .seconds(300))
        #expect(result.succeeded, "\(result)")
        #expect(result.stdout.contains("/dev/pts/0"), "\(result.stdout)")
        #expect(result.stdout.contains("40 100"), "\(result.stdout)")
        #expect(h.leftoversAfterSettling().isEmpty, "\(h.leftovers())")
    }

    @Test func stdinAndOutputArriveWhole() throws {
        let h = try Self.harness()
        var generator = SystemRandomNumberGenerator()
        let input = Data((0..<(64 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let inputPath = h.scratch.file("stdin.bin"), outputPath = h.scratch.file("stdout.bin")
        try input.write(to: URL(fileURLWithPath: inputPath))
        let echoed = try Command.run(["sh", "-c", "ctr --address \(h.socket) run --rm --fifo-dir \(h.fifoDirectory) --runtime \(Self.runtime) \(BusyboxImage.reference) cat1 cat < \(inputPath) > \(outputPath)"],
                                     timeout: .seconds(600))
        #expect(echoed.succeeded, "\(echoed)")
        let output = try Data(contentsOf: URL(fileURLWithPath: outputPath))
        #expect(output.count == input.count, "64 MiB through stdin and back: got \(output.count) bytes")
        // Digests, not the bytes: a failed comparison of 64 MiB would have the test library diff them.
        #expect(SHA256Hex.of(output) == SHA256Hex.of(input), "the bytes came back changed")

        // A process that writes 1 MiB and exits at once: the shim answers Wait only after every byte has
        // reached ctr. 50 execs into one running container (a VM boot each would take minutes here).
        let run = try h.ctr(["run", "-d", "--runtime", Self.runtime, BusyboxImage.reference, "writer", "sleep", "600"])
        #expect(run.succeeded, "\(run)")
        for i in 0..<50 {
            let result = try h.ctr(["task", "exec", "--exec-id", "w\(i)", "writer", "head", "-c", "1048576", "/dev/zero"])
            #expect(result.succeeded && result.stdout.utf8.count == 1 << 20,
                    "exec \(i): \(result.stdout.utf8.count) bytes, \(result.status)")
        }
        try h.ctr(["task", "kill", "-s", "SIGKILL", "writer"])
        Thread.sleep(forTimeInterval: 1)
        try h.ctr(["task", "delete", "-f", "writer"])
        try h.ctr(["container", "rm", "writer"])
        #expect(h.leftoversAfterSettling().isEmpty, "\(h.leftovers())")
    }

    @Test func writesLandInTheSnapshot() throws {
        let h = try Self.harness()
        let id = "keep1"
        let run = try h.ctr(["run", "--runtime", Self.runtime, BusyboxImage.reference, id, "sh", "-c", "echo kept > /hello"])
        #expect(run.succeeded, "\(run)")
        try h.ctr(["task", "delete", id])
        // The container's snapshot, mounted on the host: the file the guest wrote is in its upper layer.
        let target = h.scratch.file("snapshot")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let mounts = try h.ctr(["snapshots", "mounts", target, id])
        #expect(mounts.succeeded && mounts.stdout.hasPrefix("mount "), "\(mounts)")
        let mounted = try Command.run(["sh", "-c", mounts.stdout])
        #expect(mounted.succeeded, "\(mounted)")
        defer { _ = try? Command.run(["umount", target]) }
        let hello = try? String(contentsOfFile: target + "/hello", encoding: .utf8)
        #expect(hello == "kept\n", "/hello in the snapshot: \(hello ?? "missing")")
        _ = try? Command.run(["umount", target])
        try h.ctr(["container", "rm", id])
        #expect(h.leftoversAfterSettling().isEmpty, "\(h.leftovers())")
    }

    @Test func fourContainersAtOnceEachInItsOwnVM() throws {
        let h = try Self.harness()
        let results = Locked<[String: CommandResult]>([:])
        let threads = (1...4).map { n in
            Thread {
                let result = try? Self.run(h, "par\(n)", ["sh", "-c", "echo par\(n) $(cat /proc/sys/kernel/random/boot_id)"])
                results.update { $0["par\(n)"] = result }
            }
        }
        for thread in threads { thread.start() }
        let deadline = ContinuousClock.now + .seconds(900)
        while results.get().count < 4 && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.2) }
        let all = results.get()
        #expect(all.count == 4)
        var bootIDs: Set<String> = []
        for n in 1...4 {
            let result = all["par\(n)"]
            #expect(result?.succeeded == true, "par\(n): \(result.map { "\($0)" } ?? "no result")")
            let words = result?.stdout.split(separator: " ") ?? []
            #expect(words.first == "par\(n)")
            if words.count == 2 { bootIDs.insert(String(words[1])) }
        }
        #expect(bootIDs.count == 4, "four different kernels (boot ids): \(bootIDs)")
        #expect(h.leftoversAfterSettling(.seconds(60)).isEmpty, "\(h.leftovers())")
    }

    @Test func containerdCleansUpAfterAKilledShim() throws {
        let h = try Self.harness()
        let id = "orphan1"
        let run = try h.ctr(["run", "-d", "--runtime", Self.runtime, BusyboxImage.reference, id, "sleep", "600"])
        #expect(run.succeeded, "\(run)")
        let shims = h.leftovers().filter { $0.contains("containerd-shim-guestkit-v1") && $0.contains("-id \(id)") }
        #expect(shims.count == 1, "one shim server for the task: \(shims)")
        let pid = try #require(shims.first.flatMap { Int32($0.split(separator: " ")[1].dropLast()) })
        try Processes.signal(pid, Signal.kill)
        // containerd sees the shim gone, runs `delete` (the VM goes) and marks the task stopped.
        let deadline = ContinuousClock.now + .seconds(60)
        var listed = ""
        while ContinuousClock.now < deadline {
            listed = try h.ctr(["task", "ls"]).stdout
            if !listed.contains("RUNNING") { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(!listed.contains("RUNNING"), "the task still shows as running: \(listed)")
        _ = try? h.ctr(["task", "delete", id])
        try h.ctr(["container", "rm", id])
        #expect(!(try h.ctr(["task", "ls"]).stdout.contains(id)), "a stale task is listed")
        #expect(h.leftoversAfterSettling(.seconds(60)).isEmpty, "\(h.leftovers())")
    }

    @Test func aGuestThatNeverAnswersFailsCreateWithinTheBound() throws {
        // The agent listens on another port: the shim's connection on 1024 is never accepted.
        let h = try Self.harness(bootTimeout: 20, kernelArguments: "guest.agent_port=1999")
        let started = ContinuousClock.now
        let result = try Self.run(h, "mute1", ["true"])
        let took = ContinuousClock.now - started
        #expect(!result.succeeded)
        #expect(result.stderr.contains("did not become ready") && result.stderr.contains("did not answer within"),
                "the error names the cause: \(result.stderr)")
        // Bound: the stated 20 s plus VM start, teardown and containerd's own work; not a timing target.
        #expect(took < .seconds(120), "took \(took)")
        #expect(h.leftoversAfterSettling().isEmpty, "\(h.leftovers())")
    }
}
