// HostProcess: a child starts clean (empty signal mask, default dispositions, its own process group),
// its streams go where asked without a full pipe stalling it, and its whole group dies on every way out:
// the leader ending, its lifetime running out, its ChildProcess being released, and the parent dying.
import Foundation
import GuestSys
import GuestTestSupport
import HostProcess
import Testing

struct ChildProcessTests {
    static func shell(_ script: String) -> ChildCommand {
        var command = ChildCommand("/bin/sh", ["-c", script])
        command.output = .capture
        command.error = .capture
        return command
    }

    @Test func capturesOutputErrorAndStatus() throws {
        let result = try Self.shell("echo out; echo err >&2; exit 7").run()
        #expect(result.status == .exited(code: 7))
        #expect(result.stdout == "out\n" && result.stderr == "err\n")
        #expect(!result.timedOut && !result.succeeded)
    }

    @Test func feedsInputAndCollectsOutputLargerThanAPipe() throws {
        let input = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var command = Self.shell("cat; head -c 2097152 /dev/zero >&2")
        command.input = .bytes(input)
        let result = try command.run(timeout: .seconds(60))
        #expect(result.succeeded, "\(result.status)")
        #expect(result.standardOutput == input)
        #expect(result.standardError.count == 2 << 20)
    }

    @Test func startsWithAnEmptySignalMaskNoIgnoredSignalsAndItsOwnGroup() throws {
        // The test process may block or ignore signals (this very suite ignores SIGPIPE for `.bytes`).
        Signal.ignore(Signal.pipe)
        let result = try Self.shell("grep -E '^Sig(Blk|Ign):' /proc/self/status; cut -d' ' -f5 /proc/self/stat; echo $$").run()
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "\(result)")
        #expect(lines.contains("SigBlk:\t0000000000000000"), "\(lines)")
        #expect(lines.contains("SigIgn:\t0000000000000000"), "\(lines)")
        let group = lines.count == 4 ? lines[2] : "", pid = lines.count == 4 ? lines[3] : ""
        #expect(group == pid && Int32(group) != getpgrp(), "process group \(group), pid \(pid), ours \(getpgrp())")
    }

    @Test func aMissingProgramIsNamed() {
        let error = #expect(throws: ChildProcessError.self) { try ChildCommand("guestkit-no-such-program").run() }
        #expect(error?.reason == .notFound && "\(error!)".contains("guestkit-no-such-program"))
    }

    /// The pid of the background sleep a shell started in its own group, read from the file it wrote.
    static func member(in scratch: ScratchDirectory) throws -> Int32 {
        let text = try String(contentsOfFile: scratch.file("member"), encoding: .utf8)
        return try #require(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    @Test func whatTheLeaderLeftBehindIsKilledWhenItEnds() throws {
        let scratch = try ScratchDirectory("gk-hostprocess")
        let started = ContinuousClock.now
        let result = try Self.shell("sleep 1000 & echo $! > \(scratch.file("member"))").run(timeout: .seconds(60))
        #expect(result.succeeded && !result.timedOut)
        #expect(ContinuousClock.now - started < .seconds(30), "the run waited for the background sleep")
        #expect(TestParent.stillAlive([try Self.member(in: scratch)], after: .seconds(10)).isEmpty)
    }

    @Test func aLifetimeKillsTheWholeGroup() throws {
        let scratch = try ScratchDirectory("gk-hostprocess")
        let result = try Self.shell("sleep 1000 & echo $! > \(scratch.file("member")); wait").run(timeout: .milliseconds(500))
        #expect(result.timedOut)
        #expect(result.status == .signaled(signal: Signal.kill, coreDumped: false), "\(result.status)")
        #expect(TestParent.stillAlive([try Self.member(in: scratch)], after: .seconds(10)).isEmpty)
    }

    @Test func aLifetimeHoldsWhenNobodyWaits() throws {
        var command = ChildCommand("sleep", ["1000"])
        command.lifetime = .milliseconds(300)
        let child = try ChildProcess(command)
        Thread.sleep(forTimeInterval: 2)
        #expect(!TestParent.isAlive(child.pid), "the supervisor killed it at its lifetime, before anyone asked")
        #expect(child.timedOut)
    }

    @Test func releasingAChildKillsItsGroup() throws {
        let scratch = try ScratchDirectory("gk-hostprocess")
        var command = ChildCommand("/bin/sh", ["-c", "sleep 1000 & echo $! > \(scratch.file("member")); wait"])
        command.output = .null
        var child: ChildProcess? = try ChildProcess(command)
        let leader = try #require(child?.pid)
        while !FileManager.default.fileExists(atPath: scratch.file("member")) { Thread.sleep(forTimeInterval: 0.01) }
        Thread.sleep(forTimeInterval: 0.05)
        let member = try Self.member(in: scratch)
        #expect(TestParent.isAlive(leader) && TestParent.isAlive(member))
        child = nil
        #expect(TestParent.stillAlive([leader, member], after: .seconds(10)).isEmpty)
    }

    @Test func stopEndsTheGroupWithSIGTERMFirst() throws {
        let scratch = try ScratchDirectory("gk-hostprocess")
        var command = ChildCommand("/bin/sh", ["-c", "trap 'echo term > \(scratch.file("saw")); exit 0' TERM; while :; do sleep 0.05; done"])
        command.output = .null
        let child = try ChildProcess(command)
        Thread.sleep(forTimeInterval: 0.3)
        let status = child.stop(grace: .seconds(10))
        #expect(status == .exited(code: 0), "\(status)")
        #expect((try? String(contentsOfFile: scratch.file("saw"), encoding: .utf8)) == "term\n")
    }

    @Test func aChildOutlivesTheShortLivedThreadThatStartedIt() throws {
        // PR_SET_PDEATHSIG fires when the forking thread ends: children are forked on HostProcess's own
        // long-lived thread, so a caller's thread ending does not take them along.
        let box = Locked<ChildProcess?>(nil)
        let thread = Thread {
            var command = ChildCommand("sleep", ["1000"])
            command.output = .null
            box.set(try? ChildProcess(command))
        }
        thread.start()
        while box.get() == nil { Thread.sleep(forTimeInterval: 0.01) }
        Thread.sleep(forTimeInterval: 0.5)  // the thread has ended by now
        let child = try #require(box.get())
        #expect(child.isRunning)
        child.kill()
    }

    @Test func theParentDyingTakesTheWholeGroupWithIt() throws {
        let scratch = try ScratchDirectory("gk-hostprocess")
        let parent = try TestParent(["children", scratch.path], scratch: scratch, expecting: ["leader", "member"])
        let children = [try #require(parent.pids["leader"]), try #require(parent.pids["member"])]
        #expect(children.allSatisfy(TestParent.isAlive))
        parent.process.signalGroup(Signal.kill)
        #expect(parent.process.wait(timeout: .seconds(10)) == .signaled(signal: Signal.kill, coreDumped: false))
        let left = TestParent.stillAlive(children, after: .seconds(10))
        #expect(left.isEmpty, "still running after their parent was SIGKILLed: \(left)")
    }
}
