import Foundation
import GuestTestSupport
import Testing

/// guest-init for real, as PID 1 of fresh PID + mount + UTS + network namespaces, with small shell
/// scripts standing in for the agent. Everything is observed from outside: /proc of the host, files the
/// stand-in agent writes, /run/guest/boot.json through the bind-mounted run directory, and the signal
/// that ends the namespace (reboot(2) in a PID namespace kills its init with SIGINT for power-off and
/// SIGHUP for restart; unshare re-raises it).
@Suite(.serialized)
struct InitProcessTests {
    let scratch: ScratchDirectory
    let guestInit = BuiltProducts.path("guest-init")

    init() throws {
        try #require(NamespacedInit.isSupported, "needs root and util-linux unshare")
        scratch = try ScratchDirectory("init-ns")
    }

    /// Writes an executable stand-in agent.
    private func agent(_ body: String, name: String = "agent") throws -> String {
        let path = scratch.file(name)
        try ("#!/bin/sh\n" + body).write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    private func boot(_ options: String, input: String? = nil) throws -> NamespacedInit {
        try NamespacedInit(guestInit, ["--cmdline", options], scratch: scratch, input: input)
    }

    private func bootJSON(_ ns: NamespacedInit) -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: ns.runDirectory + "/guest/boot.json") else { return nil }
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }

    private func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Host pids of the namespace init's children whose command line contains `text`.
    private func children(of ns: NamespacedInit, running text: String) -> [Int32] {
        guard let pid = ns.initPID else { return [] }
        return NamespacedInit.children(of: pid).filter { NamespacedInit.commandLine(of: $0).contains(text) }
    }

    @Test func bootsStartsTheAgentAndWritesTheTimeline() throws {
        let facts = scratch.file("facts")
        let path = try agent("""
            {
              echo "args=$*"
              echo "fd=$GUESTKIT_INIT_FD"
              echo "stdin=$(readlink /proc/self/fd/0)"
              echo "session=$(cut -d' ' -f6 /proc/self/stat) pid=$$"
              echo "hostname=$(cat /proc/sys/kernel/hostname)"
              echo "pid1=$(cat /proc/1/comm)"
            } > \(facts)
            trap 'echo got-sigterm > \(scratch.file("term")); exit 0' TERM
            echo READY >&3
            while :; do sleep 1; done
            """)
        let ns = try boot("guest.agent=\(path) guest.agent_port=2048 guest.hostname=gk-test guest.modules=gk_no_such_module "
            + "guest.frob=1 guest.overlay=tmpfs guest.boot_timer=firecracker")
        #expect(ns.waitUntil { bootJSON(ns) != nil }, "no boot.json; console:\n\(ns.output)")

        let boot = try #require(bootJSON(ns))
        #expect(boot["init_version"] as? String == "0.1.0")
        let release = try String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8)
        #expect(boot["kernel_release"] as? String == release.trimmingCharacters(in: .whitespacesAndNewlines))
        let stages = try #require(boot["stages"] as? [[String: Any]])
        let names = stages.compactMap { $0["name"] as? String }
        #expect(names.first == "init_started")
        #expect(names.suffix(2) == ["agent_started", "agent_ready"])
        #expect(!names.contains("root_mounted"))  // the "kernel" (the host) mounted this root
        let times = stages.compactMap { ($0["boottime_ns"] as? NSNumber)?.uint64Value }
        #expect(times == times.sorted())
        let root = try #require(boot["root"] as? [String: Any])
        #expect(root["switched"] as? Bool == false)
        #expect(root["dax"] as? Bool == false)
        #expect(root["overlay"] as? String == "none")
        #expect(boot["agent_restarts"] as? Int == 0)

        let agentFacts = lines(facts)
        #expect(agentFacts.contains("args=--port 2048"))
        #expect(agentFacts.contains("fd=3"))
        #expect(agentFacts.contains("stdin=/dev/null"))
        #expect(agentFacts.contains("hostname=gk-test"))
        #expect(agentFacts.contains("pid1=guest-init"))
        // Its own session: the session id is its own pid.
        let session = agentFacts.first { $0.hasPrefix("session=") }?.dropFirst("session=".count).split(separator: " ")
        #expect(session?.first == session?.last.map { $0.dropFirst("pid=".count) })

        let console = ns.output
        #expect(console.contains("warning: unknown option guest.frob=1 ignored"))
        #expect(console.contains("module gk_no_such_module: not loaded (a namespace's init must not change the host's kernel)"))
        // Fired once the agent is ready, and refused outside a machine (/dev/mem is the host's).
        #expect(console.contains("boot timer mmio(address: 3221225472, value: 123) skipped: not the machine's init"))
        #expect(console.contains("boot timeline: init_started"))
        #expect(console.contains("warning: guest.overlay=tmpfs ignored"))

        ns.signal(SIGTERM)
        #expect(ns.waitForEnd() == .init(signal: SIGINT, exitCode: nil), "console:\n\(ns.output)")
        #expect(lines(scratch.file("term")) == ["got-sigterm"])
        #expect(ns.output.contains("power-off: SIGTERM"))
        #expect(ns.output.contains("reboot(POWER_OFF)"))
        #expect(!ns.output.contains("of grace: SIGKILL"))
    }

    @Test func asPID1HelpVersionAndJunkWordsAreIgnored() throws {
        let path = try agent("echo READY >&3\nexec sleep 1000\n")
        // What a kernel passes to init from `… -- --help --version junk`.
        let ns = try NamespacedInit(guestInit, ["--help", "--version", "junk", "--print-options",
                                                "--cmdline", "guest.agent=\(path)"], scratch: scratch)
        #expect(ns.waitUntil { bootJSON(ns) != nil }, "console:\n\(ns.output)")
        #expect(ns.process.isRunning)
        #expect(ns.output.contains("ignoring arguments not used at boot: --help --version junk --print-options"))
        #expect(!ns.output.contains("usage:") && !ns.output.contains("guest-init 0.1.0\n"))
        ns.signal(SIGTERM)
        #expect(ns.waitForEnd() == .init(signal: SIGINT, exitCode: nil), "console:\n\(ns.output)")
    }

    @Test func hugeDurationsBootWithAWarningAndShutDown() throws {
        let path = try agent("echo READY >&3\nexec sleep 1000\n")
        let ns = try boot("guest.agent=\(path) guest.root_wait=99999999999999999 guest.shutdown_grace=99999999999999")
        #expect(ns.waitUntil { bootJSON(ns) != nil }, "console:\n\(ns.output)")
        #expect(ns.output.contains("warning: guest.root_wait=99999999999999999: expected seconds"))
        #expect(ns.output.contains("warning: guest.shutdown_grace=99999999999999: out of range (at most 86400 s); keeping the default"))
        // The shutdown runs with the default grace: its deadline arithmetic did not trap.
        ns.signal(SIGTERM)
        #expect(ns.waitForEnd() == .init(signal: SIGINT, exitCode: nil), "console:\n\(ns.output)")
        #expect(ns.output.contains("reboot(POWER_OFF)"))
    }

    @Test func orphansAreReapedAndLeaveNoZombie() throws {
        let spawned = scratch.file("spawned")
        let path = try agent("""
            echo READY >&3
            i=0
            while [ $i -lt 100 ]; do (sleep 2 &); i=$((i+1)); done
            echo done > \(spawned)
            while :; do sleep 1; done
            """)
        let ns = try boot("guest.agent=\(path)")
        #expect(ns.waitUntil { FileManager.default.fileExists(atPath: spawned) }, "console:\n\(ns.output)")
        let initPID = try #require(ns.initPID)
        // The orphans were re-parented to guest-init (not all may have been sleeping long enough to see).
        let adopted = NamespacedInit.children(of: initPID).filter { NamespacedInit.commandLine(of: $0) == "sleep 2" }
        #expect(!adopted.isEmpty)
        // Once they have all exited, guest-init has reaped each one: only the agent is left, no zombie.
        let clean = ns.waitUntil(seconds: 60) {
            let kids = NamespacedInit.children(of: initPID)
            return kids.count == 1 && kids.allSatisfy { NamespacedInit.state(of: $0) != "Z" }
                && NamespacedInit.commandLine(of: kids[0]).contains(path)
        }
        let left = NamespacedInit.children(of: initPID).map { "\($0) \(NamespacedInit.state(of: $0).map(String.init) ?? "?")" }
        #expect(clean, "left: \(left)")
        ns.signal(SIGTERM)
        #expect(ns.waitForEnd()?.signal == SIGINT)
    }

    @Test func aKilledAgentIsRestarted() throws {
        let starts = scratch.file("starts")
        let path = try agent("""
            echo $$ >> \(starts)
            echo READY >&3
            exec sleep 1000
            """)
        let ns = try boot("guest.agent=\(path)")
        // The agent has exec'd its sleep once guest-init's child runs "sleep 1000".
        #expect(ns.waitUntil { bootJSON(ns) != nil && !children(of: ns, running: "sleep 1000").isEmpty },
                "console:\n\(ns.output)")
        let first = try #require(children(of: ns, running: "sleep 1000").first)
        kill(first, SIGKILL)

        #expect(ns.waitUntil {
            lines(starts).count == 2 && (bootJSON(ns)?["agent_restarts"] as? Int) == 1
                && children(of: ns, running: "sleep 1000").count == 1
        }, "console:\n\(ns.output)")
        let second = children(of: ns, running: "sleep 1000")
        #expect(second.count == 1 && second.first != first)
        #expect(ns.output.contains("killed by SIGKILL"))
        #expect(ns.output.contains("restarting in 100 ms"))
        #expect(ns.output.contains("agent ready again (restart 1)"))

        ns.signal(SIGTERM)
        #expect(ns.waitForEnd()?.signal == SIGINT)
    }

    @Test func aMissingAgentIsRetriedWithBackoff() throws {
        let ns = try boot("guest.agent=\(scratch.file("no-such-agent"))")
        #expect(ns.waitUntil { ns.output.components(separatedBy: "cannot start").count > 3 }, "console:\n\(ns.output)")
        #expect(ns.output.contains("execve failed: ENOENT"))
        ns.signal(SIGTERM)
        #expect(ns.waitForEnd()?.signal == SIGINT)
    }

    @Test(arguments: [("POWEROFF", SIGINT, "power-off: the agent asked for it"),
                      ("REBOOT", SIGHUP, "reboot: the agent asked for it")])
    func theAgentCanEndTheGuest(line: String, signal: Int32, logged: String) throws {
        let path = try agent("""
            echo READY >&3
            echo \(line) >&3
            exec sleep 1000
            """)
        let ns = try boot("guest.agent=\(path)")
        #expect(ns.waitForEnd() == .init(signal: signal, exitCode: nil), "console:\n\(ns.output)")
        #expect(ns.output.contains(logged))
    }

    @Test func ctrlAltDelReboots() throws {
        let path = try agent("echo READY >&3\nexec sleep 1000\n")
        let ns = try boot("guest.agent=\(path)")
        #expect(ns.waitUntil { bootJSON(ns) != nil })
        ns.signal(SIGINT)
        #expect(ns.waitForEnd() == .init(signal: SIGHUP, exitCode: nil), "console:\n\(ns.output)")
        #expect(ns.output.contains("reboot: SIGINT (ctrl-alt-del)"))
    }

    @Test func processesIgnoringSIGTERMAreKilledAfterTheGrace() throws {
        let path = try agent("""
            trap '' TERM
            echo READY >&3
            while :; do sleep 1; done
            """)
        let ns = try boot("guest.agent=\(path) guest.shutdown_grace=0.3")
        #expect(ns.waitUntil { bootJSON(ns) != nil })
        ns.signal(SIGPWR)
        #expect(ns.waitForEnd()?.signal == SIGINT, "console:\n\(ns.output)")
        #expect(ns.output.contains("power-off: SIGPWR"))
        #expect(ns.output.contains("processes still running after 0.3 s of grace: SIGKILL"))
    }

    @Test func aFatalBootErrorPowersOff() throws {
        let path = try agent("echo READY >&3\nexec sleep 1000\n")
        // This namespace's root (the host's) is not DAX-mounted; guest.dax=always must refuse to go on.
        let ns = try boot("guest.agent=\(path) guest.dax=always")
        #expect(ns.waitForEnd() == .init(signal: SIGINT, exitCode: nil), "console:\n\(ns.output)")
        #expect(ns.output.contains("error: guest.dax=always, but the kernel mounted / without DAX"))
        #expect(ns.output.contains("power-off: fatal boot error"))
        #expect(!ns.output.contains("agent \(path) started"))
    }

    @Test func theRescueShellRunsOnTheConsole() throws {
        let ns = try boot("guest.dax=always guest.rescue=1", input: "echo rescue-shell-was-here-$((6*7))\nexit\n")
        #expect(ns.waitForEnd() == .init(signal: SIGINT, exitCode: nil), "console:\n\(ns.output)")
        #expect(ns.output.contains("rescue shell started"))
        #expect(ns.output.contains("rescue-shell-was-here-42"))
        #expect(ns.output.contains("power-off: the rescue shell ended"))
    }

    @Test func refusesToRunAsAnythingButPID1() throws {
        let result = try Command.run([guestInit, "--cmdline", "guest.agent=/bin/true"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("must run as PID 1"))
    }

    @Test func refusesANamespaceWhoseMountsReachTheHost() throws {
        // PID 1 of a PID namespace whose mounts are shared with the host: unmounting would propagate.
        let result = try Command.run(["unshare", "--pid", "--mount", "--propagation", "shared", "--fork", guestInit,
                                      "--cmdline", "guest.agent=/bin/true"])
        #expect(result.status == 1, "\(result)")
        #expect(result.stderr.contains("propagate to the host"))
    }

    @Test func printsWhatTheCommandLineMeans() throws {
        let result = try Command.run([guestInit, "--print-options", "--cmdline",
                                      "guest.root=LABEL=guestroot guest.modules=a,b guest.dax=never guest.zzz=1"])
        #expect(result.succeeded)
        #expect(result.stdout.contains("guest.root=LABEL=guestroot\n"))
        #expect(result.stdout.contains("guest.modules=a,b\n"))
        #expect(result.stdout.contains("guest.dax=never\n"))
        #expect(result.stdout.contains("warning: unknown option guest.zzz=1 ignored"))
    }
}
