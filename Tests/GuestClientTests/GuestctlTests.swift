import Foundation
import GuestSys
import GuestTestSupport
import Testing

/// The built guestctl against the built agent, as a user would run it.
@Suite(.serialized) struct GuestctlTests {
    let agent: RunningAgent
    let guestctl = BuiltProducts.path("guestctl")

    init() throws {
        agent = try RunningAgent()
    }

    func run(_ arguments: [String], input: String? = nil) throws -> CommandResult {
        try Command.run([guestctl] + arguments, environment: ["GUESTKIT_AGENT": agent.address],
                        input: input.map { Data($0.utf8) })
    }

    @Test func execPassesOutputAndTheRemoteExitCode() throws {
        let result = try run(["exec", "--", "sh", "-c", "echo out; echo err >&2; exit 7"])
        #expect(result.status == 7)
        #expect(result.stdout == "out\n")
        #expect(result.stderr == "err\n")
    }

    @Test func execExitsWith128PlusTheSignal() throws {
        let result = try run(["exec", "--", "sh", "-c", "kill -KILL $$"])
        #expect(result.status == 137)
        #expect(result.stderr.contains("killed by SIGKILL"))
    }

    @Test func execWithStdinEnvironmentAndDirectory() throws {
        let result = try run(["exec", "-i", "-e", "A=1", "-e", "B=two words", "-w", "/tmp", "--",
                              "sh", "-c", "tr a-z A-Z; echo \"$A $B $(pwd)\""], input: "piped text\n")
        #expect(result.status == 0)
        #expect(result.stdout == "PIPED TEXT\n1 two words /tmp\n")
    }

    @Test
    func execAsAnotherUser() throws {
        try #require(getuid() == 0, "switching users needs root")
        let result = try run(["exec", "-u", "nobody", "--", "id", "-un"])
        #expect(result.stdout == "nobody\n")
    }

    @Test func execOfAMissingProgramExits127WithTheReason() throws {
        let result = try run(["exec", "--", "no-such-tool"])
        #expect(result.status == 127)
        #expect(result.stderr.contains("executable \"no-such-tool\" not found in PATH"))
    }

    @Test func detachPsKillWait() throws {
        let started = try run(["exec", "-d", "--id", "sleeper", "--", "sleep", "60"])
        #expect(started.stdout == "sleeper\n")
        let ps = try run(["ps"])
        #expect(ps.stdout.contains("sleeper"))
        #expect(ps.stdout.contains("sleep 60"))
        #expect(try run(["kill", "sleeper", "KILL"]).status == 0)
        let waited = try run(["wait", "sleeper"])
        #expect(waited.status == 137)
        #expect(waited.stdout == "sleeper killed by SIGKILL\n")
    }

    @Test func infoAndShutdown() throws {
        let info = try run(["info"])
        #expect(info.status == 0)
        #expect(info.stdout.contains("agent version   0.1.0"))
        #expect(try run(["shutdown", "--reboot"]).status == 0)
        #expect(try agent.readControlLine() == "REBOOT")
    }

    @Test func withoutAnAddressItSaysHow() throws {
        let result = try Command.run([guestctl, "info"], environment: ["GUESTKIT_AGENT": ""])
        #expect(result.status != 0)
        #expect(result.stderr.contains("bad agent address") || result.stderr.contains("--agent"))
    }
}
