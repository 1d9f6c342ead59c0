import Foundation
import GuestClient
import GuestProto
import GuestSys
import GuestTestSupport
import Testing
import TTRPC

/// Processes run through the real agent on a Unix socket: output, exit, environment, identity, limits,
/// stdin, terminals, errors.
@Suite(.serialized) struct ExecTests {
    let agent: RunningAgent
    let client: GuestClient

    init() throws {
        agent = try RunningAgent()
        client = try GuestClient(agent.address)
    }

    @Test func separatesStdoutAndStderrAndReportsTheExitCode() throws {
        let result = try execute(client, startRequest(["sh", "-c", "echo out; echo err >&2; echo more; exit 3"]))
        #expect(result.stdoutText == "out\nmore\n")
        #expect(result.stderrText == "err\n")
        #expect(result.status == ProcessExit(code: 3, signal: 0))
    }

    @Test func reportsTheSignalThatKilledTheProcess() throws {
        let result = try execute(client, startRequest(["sh", "-c", "echo before; kill -TERM $$; echo after"]))
        #expect(result.stdoutText == "before\n")
        #expect(result.status.signal == Signal.terminate)
        #expect(result.status.shellCode == 143)
    }

    @Test func passesTheEnvironmentAndAddsDefaults() throws {
        let result = try execute(client, startRequest(["sh", "-c", "echo \"$GREETING|$PATH|$HOME|$TERM\""],
                                                      env: ["GREETING=hello world"]))
        #expect(result.stdoutText == "hello world|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/root|\n")
        let withPath = try execute(client, startRequest(["sh", "-c", "echo $PATH"], env: ["PATH=/bin:/usr/bin"]))
        #expect(withPath.stdoutText == "/bin:/usr/bin\n")
    }

    @Test func runsInTheWorkingDirectory() throws {
        let result = try execute(client, startRequest(["pwd"], cwd: agent.scratch.path))
        #expect(result.stdoutText == agent.scratch.path + "\n")
        let relative = try execute(client, startRequest(["./hello.sh"], cwd: try makeScript("hello.sh", "echo relative")))
        #expect(relative.stdoutText == "relative\n")
    }

    func makeScript(_ name: String, _ body: String) throws -> String {
        let path = agent.scratch.file(name)
        try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        try FileSystem.changeMode(path, 0o755)
        return agent.scratch.path
    }

    @Test
    func switchesUserByName() throws {
        try #require(isRoot, "switching users needs root")
        let result = try execute(client, startRequest(["sh", "-c", "id -u; id -g; echo $HOME"]) { $0.user.spec = "nobody" })
        let nobody = try #require(getpwnam("nobody"))
        #expect(result.stdoutText == "\(nobody.pointee.pw_uid)\n\(nobody.pointee.pw_gid)\n\(String(cString: nobody.pointee.pw_dir))\n")
    }

    @Test
    func switchesToNumericIdsWithExtraGroups() throws {
        try #require(isRoot, "switching users needs root")
        let result = try execute(client, startRequest(["sh", "-c", "id -u; id -g; id -G"]) {
            $0.user.uid = 4321
            $0.user.gid = 8765
            $0.user.additionalGids = [111, 222]
        })
        let lines = result.stdoutText.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines.first == "4321")
        #expect(lines.dropFirst().first == "8765")
        #expect(Set(lines.last?.split(separator: " ").map(String.init) ?? []) == ["8765", "111", "222"])
    }

    @Test func unknownUserIsNotFound() throws {
        let error = #expect(throws: GuestClientError.self) {
            try client.startProcess(startRequest(["true"]) { $0.user.spec = "no-such-user-xyz" })
        }
        #expect(error?.statusCode == .notFound)
        #expect(error?.description.contains("no-such-user-xyz") == true)
    }

    @Test func appliesResourceLimits() throws {
        let result = try execute(client, startRequest(["sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c"]) {
            var nofile = Guestkit_V1_Rlimit()
            nofile.type = "RLIMIT_NOFILE"
            nofile.soft = 123
            nofile.hard = 456
            var core = Guestkit_V1_Rlimit()
            core.type = "core"
            core.soft = 0
            core.hard = 0
            $0.rlimits = [nofile, core]
        })
        #expect(result.stdoutText == "123\n456\n0\n")
        let bad = #expect(throws: GuestClientError.self) {
            try client.startProcess(startRequest(["true"]) {
                var limit = Guestkit_V1_Rlimit()
                limit.type = "RLIMIT_BOGUS"
                $0.rlimits = [limit]
            })
        }
        #expect(bad?.statusCode == .invalidArgument)
    }

    @Test func pipesStdinThroughAndClosesItWhenTheHostHalfCloses() throws {
        let input = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let result = try execute(client, startRequest(["cat"]), stdin: input)
        #expect(result.stdout == input)
        #expect(result.status == ProcessExit(code: 0, signal: 0))
    }

    @Test func closeStdinEndsAnUnattachedStdin() throws {
        let started = try client.startProcess(startRequest(["sh", "-c", "cat; echo eof"]) { $0.stdin = true; $0.stdout = true })
        let out = try client.attach(started.id, .stdout)
        defer { out.closeQuietly() }
        try client.closeStdin(started.id)
        #expect(String(decoding: try readAll(out), as: UTF8.self) == "eof\n")
        #expect(try client.wait(started.id) == ProcessExit(code: 0, signal: 0))
    }

    @Test func terminalHasTheRequestedSize() throws {
        let sized = try execute(client, startRequest(["sh", "-c", "stty size; tty"]) {
            $0.terminal = true
            $0.terminalSize.rows = 24
            $0.terminalSize.columns = 80
        })
        #expect(sized.stdoutText.hasPrefix("24 80\r\n/dev/pts/"), "terminal output: \(sized.stdoutText)")
    }

    @Test func resizeReachesTheProcess() throws {
        let started = try client.startProcess(startRequest(["sh", "-c", "read line; stty size"]) {
            $0.terminal = true
            $0.terminalSize.rows = 10
            $0.terminalSize.columns = 20
            $0.stdin = true
            $0.stdout = true
        })
        let out = try client.attach(started.id, .stdout)
        defer { out.closeQuietly() }
        let input = try client.attach(started.id, .stdin)
        defer { input.closeQuietly() }
        try client.resizeTerminal(started.id, rows: 40, columns: 100)
        try input.writeAll("go\n")
        let text = String(decoding: try readAll(out), as: UTF8.self)
        #expect(text.contains("40 100"), "terminal output: \(text)")
        #expect(try client.wait(started.id) == ProcessExit(code: 0, signal: 0))
    }

    @Test func missingBinaryIsNotFoundAtOnceNamingPathAndPATH() throws {
        let error = #expect(throws: GuestClientError.self) {
            try client.startProcess(startRequest(["definitely-not-here"], env: ["PATH=/usr/bin:/opt/nothing"]))
        }
        #expect(error?.statusCode == .notFound)
        #expect(error?.description == "NOT_FOUND: executable \"definitely-not-here\" not found in PATH /usr/bin:/opt/nothing")

        let absolute = #expect(throws: GuestClientError.self) { try client.startProcess(startRequest(["/no/such/prog"])) }
        #expect(absolute?.statusCode == .notFound)
        #expect(absolute?.description.contains("/no/such/prog") == true)
    }

    @Test func nonExecutableFileIsPermissionDenied() throws {
        let path = agent.scratch.file("plain.txt")
        try "not a program".write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: GuestClientError.self) { try client.startProcess(startRequest([path])) }
        #expect(error?.statusCode == .permissionDenied)
    }

    @Test func missingWorkingDirectoryIsNamed() throws {
        let error = #expect(throws: GuestClientError.self) {
            try client.startProcess(startRequest(["true"], cwd: "/no/such/dir"))
        }
        #expect(error?.statusCode == .notFound)
        #expect(error?.description.contains("working directory /no/such/dir") == true)
    }

    @Test func unknownIDsAreNotFound() throws {
        let calls: [(String, () throws -> Void)] = [
            ("wait", { _ = try client.wait("nope") }),
            ("signal", { try client.signal("nope", Signal.terminate) }),
            ("resize", { try client.resizeTerminal("nope", rows: 1, columns: 1) }),
            ("close stdin", { try client.closeStdin("nope") }),
            ("attach", { _ = try client.attach("nope", .stdout) }),
        ]
        for (name, call) in calls {
            let error = #expect(throws: GuestClientError.self, "\(name)") { try call() }
            #expect(error?.statusCode == .notFound, "\(name)")
            #expect(error?.description.contains("no process \"nope\"") == true, "\(name)")
        }
    }

    @Test func duplicateIDIsAlreadyExists() throws {
        _ = try client.startProcess(startRequest(["sleep", "30"], id: "twice"))
        let error = #expect(throws: GuestClientError.self) { try client.startProcess(startRequest(["true"], id: "twice")) }
        #expect(error?.statusCode == .alreadyExists)
        try client.signal("twice", Signal.kill)
        #expect(try client.wait("twice").signal == Signal.kill)
    }

    @Test func signalsTheWholeProcessGroup() throws {
        let started = try client.startProcess(startRequest(["sh", "-c", "sleep 100 & echo $!; wait"]) { $0.stdout = true })
        let out = try client.attach(started.id, .stdout)
        defer { out.closeQuietly() }
        // The first line is the background sleep's pid; once read, both processes exist.
        var line: [UInt8] = []
        while line.last != UInt8(ascii: "\n") { line += try out.read(upTo: 1) }
        let sleeper = try #require(Int32(String(decoding: line.dropLast(), as: UTF8.self)))
        try client.signal(started.id, Signal.kill, processGroup: true)
        #expect(try client.wait(started.id).signal == Signal.kill)
        // The sleeper was in the group too: it dies (gone, or a zombie for its new parent) well before its
        // 100 s are up. SIGKILL takes effect when it next runs, so look until then.
        func dead() -> Bool {
            let state = (try? String(contentsOfFile: "/proc/\(sleeper)/stat", encoding: .utf8))?
                .split(separator: ")").last?.split(separator: " ").first
            return state == nil || state == "Z" || state == "X"
        }
        let deadline = Date().addingTimeInterval(30)
        while !dead() && Date() < deadline { usleep(1000) }
        #expect(dead())
    }

    @Test func backgroundChildThatKeepsWritingDoesNotHoldTheExit() throws {
        // `yes` inherits the pipe and never stops writing; the shell's own line must still arrive, then the exit.
        let started = try client.startProcess(startRequest(["sh", "-c", "yes background & echo done-marker"]) { $0.stdout = true })
        defer { try? Processes.signal(-started.pid, Signal.kill) }
        let out = try client.attach(started.id, .stdout)
        defer { out.closeQuietly() }
        // Read while waiting: once `yes` has filled the pipe, the shell's echo waits for room in it.
        let marker = Array("done-marker\n".utf8)
        let sawMarker = Locked(false)
        let reading = DispatchSemaphore(value: 0)
        Thread {
            defer { reading.signal() }
            // The marker may straddle two reads: the end of the last one is kept.
            var tail: [UInt8] = []
            while let chunk = try? out.read(upTo: 1 << 16), !chunk.isEmpty {
                let window = tail + chunk
                if window.firstRange(of: marker) != nil { sawMarker.set(true); return }
                tail = Array(window.suffix(marker.count - 1))
            }
        }.start()
        let status = try client.wait(started.id, timeoutNanoseconds: 30_000_000_000)
        #expect(status == ProcessExit(code: 0, signal: 0))
        #expect(reading.wait(timeout: .now() + 30) == .success)
        #expect(sawMarker.get())
    }

    @Test func listsRunningAndExitedProcesses() throws {
        _ = try client.startProcess(startRequest(["sleep", "30"], id: "listed-running"))
        _ = try client.startProcess(startRequest(["sh", "-c", "exit 9"], id: "listed-exited"))
        var entries: [String: Guestkit_V1_ProcessEntry] = [:]
        // Wait for the agent to reap the short one; each round is one RPC, not a sleep.
        for _ in 0..<10_000 {
            entries = Dictionary(uniqueKeysWithValues: try client.listProcesses().map { ($0.id, $0) })
            if entries["listed-exited"]?.state == .exited { break }
        }
        #expect(entries["listed-running"]?.state == .running)
        #expect(entries["listed-running"]?.args == ["sleep", "30"])
        #expect(entries["listed-exited"]?.state == .exited)
        #expect(entries["listed-exited"]?.exitCode == 9)
        try client.signal("listed-running", Signal.kill)
        _ = try client.wait("listed-running")
        _ = try client.wait("listed-exited")
        #expect(try client.listProcesses().filter { $0.id.hasPrefix("listed-") }.isEmpty, "waited processes are forgotten")
    }

    @Test func waitHonoursTheCallDeadline() throws {
        _ = try client.startProcess(startRequest(["sleep", "30"], id: "slow"))
        let error = #expect(throws: GuestClientError.self) { _ = try client.wait("slow", timeoutNanoseconds: 50_000_000) }
        #expect(error?.statusCode == .deadlineExceeded)
        try client.signal("slow", Signal.kill)
        #expect(try client.wait("slow").signal == Signal.kill)
    }

    @Test func shutdownAsksInitOverTheControlSocket() throws {
        try client.shutdown(reboot: true)
        #expect(try agent.readControlLine() == "REBOOT")
        try client.shutdown(reboot: false)
        #expect(try agent.readControlLine() == "POWEROFF")
    }

    @Test func shutdownWithoutInitIsRefused() throws {
        let plain = try RunningAgent(withInitChannel: false)
        let error = #expect(throws: GuestClientError.self) { try GuestClient(plain.address).shutdown(reboot: false) }
        #expect(error?.statusCode == .failedPrecondition)
        #expect(error?.description.contains("not started by guest-init") == true)
    }

    @Test func infoReportsTheBootTimeline() throws {
        let booted = try RunningAgent(bootJSON: """
            {"init_version":"0.1.0","kernel_release":"6.12.9","stages":[{"name":"init_started","boottime_ns":5},\
            {"name":"agent_ready","boottime_ns":9}],"root":{"source":"/dev/pmem0","type":"ext4","dax":true,\
            "overlay":"none","switched":true},"agent_restarts":2}
            """)
        let info = try GuestClient(booted.address).info()
        #expect(info.initVersion == "0.1.0")
        #expect(info.bootStages.map(\.name) == ["init_started", "agent_ready"])
        #expect(info.bootStages.map(\.boottimeNs) == [5, 9])
        #expect(info.rootDax && info.root.type == "ext4" && info.root.overlay == "none")
        #expect(info.agentRestarts == 2)
        #expect(info.bootTimelineError.isEmpty)
        #expect(info.kernelRelease == (try Processes.kernel().release))

        let bare = try client.info()
        #expect(bare.bootTimelineError.contains("boot.json"))
        #expect(bare.agentVersion == "0.1.0")
        #expect(bare.memory.agentPrivateDirtyBytes > 0)
    }
}
