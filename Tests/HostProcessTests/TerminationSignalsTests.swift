// TerminationSignals in a real process (guestkit-test-parent interrupt): SIGINT to the tool is passed on
// to its child's process group, the registered cleanup runs, nothing it started is left, and the tool
// ends by SIGINT itself (so a calling shell or make sees an interrupted command).
import Foundation
import GuestSys
import GuestTestSupport
import HostProcess
import Testing

struct TerminationSignalsTests {
    @Test func sigintIsForwardedThenCleanedUpThenReRaised() throws {
        let scratch = try ScratchDirectory("gk-termination")
        let parent = try TestParent(["interrupt", scratch.path], scratch: scratch, expecting: ["leader", "member"])
        let children = [try #require(parent.pids["leader"]), try #require(parent.pids["member"])]
        #expect(FileManager.default.fileExists(atPath: scratch.file("partial")))
        try Processes.signal(parent.process.pid, Signal.interrupt)
        let status = parent.process.wait(timeout: .seconds(30))
        #expect(status == .signaled(signal: Signal.interrupt, coreDumped: false), "\(String(describing: status)): \(parent.output)")
        #expect((try? String(contentsOfFile: scratch.file("leader-saw-sigint"), encoding: .utf8)) == "interrupted\n",
                "the child's group got the SIGINT")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("partial")), "the cleanup ran")
        #expect(TestParent.stillAlive(children, after: .seconds(10)).isEmpty)
    }
}
