// The engine natively, driven synchronously (ContainerDriver): the create/start split, exec into a running
// container, terminals from the container's own devpts, hooks with the state on stdin, freezing, killing
// everything in the cgroup, and clean removal. The same behaviour through the agent's RPCs is tested in
// the agent's container tests.
import Foundation
import GuestContainer
import GuestSys
import GuestTestSupport
import Testing

@Suite struct EngineLifecycleTests {
    static func bundle(_ args: [String], id: String, edit: (inout [String: Any]) -> Void = { _ in }) throws -> OCIBundle {
        var spec = try ContainerFixtures.containerdDefaultSpec()
        spec.with("process") {
            $0["args"] = args
            $0["env"] = ["PATH=/bin", "TERM=xterm"]
        }
        spec["hostname"] = "lifecycle"
        spec.with("linux") { $0["cgroupsPath"] = "/engine-lifecycle/\(id)" }
        edit(&spec)
        return try OCIBundle(spec: spec, label: "engine-lifecycle")
    }

    /// Why the create failed; nil (and the container destroyed) when it succeeded.
    static func createError(_ bundle: OCIBundle, id: String) -> String? {
        do {
            try DrivenContainer(bundlePath: bundle.path, id: id).destroy()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func nothingRunsBeforeStart() throws {
        let marker = try ScratchDirectory("engine-marker")
        let bundle = try Self.bundle(["sh", "-c", "echo ran > /marker/file"], id: "split") { spec in
            spec.appendMount(["destination": "/marker", "type": "bind", "source": marker.path, "options": ["rbind", "rw"]])
        }
        let container = try DrivenContainer(bundlePath: bundle.path, id: "engine-split")
        defer { container.destroy() }
        // Created: the init exists (and is in the cgroup) but has not exec'd the program.
        Clock.sleep(nanoseconds: 300_000_000)
        #expect(!FileManager.default.fileExists(atPath: marker.file("file")))
        #expect(container.cgroup.processes() == [container.pid])
        let comm = try String(contentsOfFile: "/proc/\(container.pid)/comm", encoding: .utf8)
        #expect(comm.hasPrefix("guest-agent"), "the init should still be GuestKit's, not sh: \(comm)")
        try container.start()
        let run = try container.wait()
        #expect(run.status == .exited(code: 0), "\(run)")
        #expect(try String(contentsOfFile: marker.file("file"), encoding: .utf8) == "ran\n")
    }

    @Test func execSeesTheContainersHostnameMountsAndPID1() throws {
        let bundle = try Self.bundle(["sleep", "60"], id: "exec")
        let container = try DrivenContainer(bundlePath: bundle.path, id: "engine-exec")
        defer { container.destroy() }
        try container.start()
        let run = try container.exec(["args": ["sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; grep -c ' /dev/mqueue ' /proc/self/mountinfo; id -u; cat /proc/self/status | grep CapEff"],
                                      "env": ["PATH=/bin"], "cwd": "/tmp", "user": ["uid": 1000, "gid": 1000]])
        #expect(run.status == .exited(code: 0), "\(run)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "lifecycle")
        #expect(lines.dropFirst().first == "sleep 60 ")
        #expect(lines.dropFirst(2).first == "1")
        #expect(lines.dropFirst(3).first == "1000")
        // An exec without capabilities inherits the container's (containerd's default set), as in runc; a
        // non-root exec then has none effective.
        #expect(lines.dropFirst(4).first == "CapEff:\t0000000000000000")
        let rootExec = try container.exec(["args": ["sh", "-c", "grep CapBnd /proc/self/status"], "env": ["PATH=/bin"], "cwd": "/"])
        #expect(rootExec.stdout == "CapBnd:\t00000000a80425fb\n", "\(rootExec)")
    }

    @Test func terminalComesFromTheContainersDevpts() throws {
        let bundle = try Self.bundle(["sh", "-c", "tty; stty size"], id: "tty") { spec in
            spec.with("process") { $0["terminal"] = true; $0["consoleSize"] = ["height": 33, "width": 111] }
        }
        let container = try DrivenContainer(bundlePath: bundle.path, id: "engine-tty")
        defer { container.destroy() }
        let terminal = try #require(container.terminal)
        try container.start()
        let status = try container.reap()
        // The controller reads what the program wrote, then EIO once no terminal descriptor is left.
        var text = ""
        while true {
            guard let chunk = try? terminal.read(upTo: 4096), !chunk.isEmpty else { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        #expect(status == .exited(code: 0))
        #expect(text.contains("/dev/pts/0"), "\(text)")
        #expect(text.contains("33 111"), "\(text)")
    }

    @Test func hooksRunAtTheirPhasesWithTheState() throws {
        let log = try ScratchDirectory("engine-hooks")
        let path = log.file("hooks.log")
        func hook(_ phase: String) -> [String: Any] {
            ["path": "/bin/sh", "args": ["sh", "-c", "read -r state; echo \"\(phase) $state\" >> \(path)"]]
        }
        let bundle = try Self.bundle(["true"], id: "hooks") { spec in
            spec["hooks"] = ["prestart": [hook("prestart")], "createRuntime": [hook("createRuntime")],
                             "poststart": [hook("poststart")], "poststop": [hook("poststop")]]
            spec["annotations"] = ["org.example/key": "value"]
        }
        let container = try DrivenContainer(bundlePath: bundle.path, id: "engine-hooks")
        try container.start()
        _ = try container.wait()
        container.destroy()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.map { $0.split(separator: " ").first ?? "" } == ["prestart", "createRuntime", "poststart", "poststop"])
        let state = try JSONSerialization.jsonObject(with: Data(lines[0].dropFirst("prestart ".count).utf8)) as? [String: Any]
        #expect(state?["status"] as? String == "creating")
        #expect(state?["id"] as? String == "engine-hooks")
        #expect(state?["bundle"] as? String == bundle.path)
        #expect((state?["annotations"] as? [String: String])?["org.example/key"] == "value")
        #expect((state?["pid"] as? Int ?? 0) > 1)
        #expect(lines[2].contains("\"status\":\"running\""))
        #expect(lines[3].contains("\"status\":\"stopped\""))
    }

    /// createContainer hooks run in the container's mount namespace before the root switch (cwd: the
    /// rootfs), startContainer hooks after it: both write relative paths, compared with runc's run.
    @Test func inContainerHooksRunWhereRuncRunsThem() throws {
        let edit = { (spec: inout [String: Any]) in
            let write = { (phase: String) -> [String: Any] in
                ["path": "/bin/sh", "args": ["sh", "-c", "read -r s; echo \(phase) $(hostname) $(pwd) $s | sed 's/\"pid\":[0-9]*/pid/' >> run/hooks.log"]]
            }
            spec["hooks"] = ["createContainer": [write("createContainer")], "startContainer": [write("startContainer")]]
        }
        let ours = try Self.bundle(["cat", "/run/hooks.log"], id: "inhooks", edit: edit)
        let theirs = try Self.bundle(["cat", "/run/hooks.log"], id: "inhooks", edit: edit)
        let runc = try Runc.run(bundlePath: theirs.path, id: "engine-inhooks")
        let run = try DrivenContainer.run(bundlePath: ours.path, id: "engine-inhooks")
        #expect(run.stdout.split(separator: "\n").count == 2, "\(run)")
        #expect(run.stdout.replacingOccurrences(of: ours.path, with: "BUNDLE") == runc.stdout.replacingOccurrences(of: theirs.path, with: "BUNDLE"),
                "GuestKit:\n\(run)\nrunc:\n\(runc)")
    }

    @Test func aHookPastItsTimeoutFailsTheCreate() throws {
        let bundle = try Self.bundle(["true"], id: "timeout") { spec in
            spec["hooks"] = ["prestart": [["path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1]]]
        }
        let error = Self.createError(bundle, id: "engine-timeout")
        #expect(error?.contains("timed out after 1 s") == true, "\(String(describing: error))")
    }

    @Test func aFailedStepNamesTheStepAndPath() throws {
        let bundle = try Self.bundle(["true"], id: "badmount") { spec in
            spec.appendMount(["destination": "/data", "type": "bind", "source": "/no/such/source", "options": ["rbind"]])
        }
        let error = Self.createError(bundle, id: "engine-badmount")
        #expect(error == "bind /no/such/source on /data: the source: ENOENT (No such file or directory)", "\(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory/engine-lifecycle/badmount"))
    }

    @Test func aMissingProgramIsACreateError() throws {
        let bundle = try Self.bundle(["no-such-program"], id: "noprog")
        let error = Self.createError(bundle, id: "engine-noprog")
        #expect(error?.contains("exec no-such-program: executable file not found in $PATH (/bin)") == true, "\(String(describing: error))")
    }

    @Test func freezeStopsAndThawResumes() throws {
        let bundle = try Self.bundle(["probe", "count"], id: "freeze")
        let container = try DrivenContainer(bundlePath: bundle.path, id: "engine-freeze")
        defer { container.destroy() }
        try container.start()
        Clock.sleep(nanoseconds: 300_000_000)
        try container.cgroup.setFrozen(true)
        for _ in 0..<200 where !container.cgroup.isFrozen { Clock.sleep(nanoseconds: 5_000_000) }
        #expect(container.cgroup.isFrozen)
        let state = { (try? String(contentsOfFile: "/proc/\(container.pid)/stat", encoding: .utf8))?.split(separator: " ").dropFirst(2).first }
        let before = try Self.ticks(container.pid)
        Clock.sleep(nanoseconds: 300_000_000)
        #expect(try Self.ticks(container.pid) == before, "a frozen process must not run")
        #expect(state() != nil)
        try container.cgroup.setFrozen(false)
        Clock.sleep(nanoseconds: 300_000_000)
        #expect(try Self.ticks(container.pid) > before, "a thawed process runs again")
    }

    /// utime + stime of a process (/proc/PID/stat fields 14 and 15) plus its voluntary switches.
    static func ticks(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = status.split(separator: "\n").first { $0.hasPrefix("voluntary_ctxt_switches:") } ?? ""
        return Int(line.split(separator: "\t").last ?? "") ?? 0
    }

    @Test func killAllReachesSetsidAndDoubleForkedProcesses() throws {
        let bundle = try Self.bundle(["probe", "tree"], id: "killall") { spec in
            spec.setNamespaces(["mount", "ipc", "uts"])  // the guest's PID namespace: the grandchild is visible here
        }
        let container = try DrivenContainer(bundlePath: bundle.path, id: "engine-killall")
        defer { container.destroy() }
        try container.start()
        var pids: [Int32] = []
        for _ in 0..<500 {
            pids = container.cgroup.processes()
            if pids.count >= 2 { break }
            Clock.sleep(nanoseconds: 5_000_000)
        }
        #expect(pids.count >= 2, "the probe's grandchild should be in the cgroup: \(pids)")
        try container.cgroup.killAll()
        #expect(try container.reap() == .signaled(signal: Signal.kill, coreDumped: false))
        for _ in 0..<500 where !container.cgroup.processes().isEmpty { Clock.sleep(nanoseconds: 5_000_000) }
        #expect(container.cgroup.processes().isEmpty)
        for pid in pids where pid != container.pid {
            let alive = FileManager.default.fileExists(atPath: "/proc/\(pid)") &&
                !((try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.contains(") Z ") ?? true)
            #expect(!alive, "pid \(pid) survived the kill")
        }
    }
}
