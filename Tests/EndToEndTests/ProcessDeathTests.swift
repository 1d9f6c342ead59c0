// Whatever ends the process that started a VM, the VM ends too. A test-support process
// (guestkit-test-parent) boots QEMU with guest-vsock-bridge through the test helpers, and through
// RunningGuest as compose-guest does; the test SIGKILLs it (no handler runs, nothing is cleaned up by
// it) and then finds neither QEMU nor the bridge running. And compose-guest boot, interrupted with
// SIGINT while the guest is still booting, stops both and ends by SIGINT.
import Foundation
import GuestSys
import GuestTestSupport
import HostProcess
import Testing

@Suite(.serialized)
struct ProcessDeathTests {
    static func expectGoneAfterSIGKILL(_ parent: TestParent) throws {
        let children = [try #require(parent.pids["qemu"]), try #require(parent.pids["bridge"])]
        #expect(children.allSatisfy(TestParent.isAlive), "QEMU and the bridge run before the kill: \(parent.output)")
        try Processes.signal(parent.process.pid, Signal.kill)
        #expect(parent.process.wait(timeout: .seconds(10)) == .signaled(signal: Signal.kill, coreDumped: false))
        let left = TestParent.stillAlive(children, after: .seconds(15))
        #expect(left.isEmpty, "still running after the test process was SIGKILLed: \(left.map { "\($0) \(NamespacedInit.commandLine(of: $0))" })")
    }

    @Test func killingATestProcessThatBootedQemuThroughTheHelpersLeavesNoQemu() throws {
        let kernel = try #require(ProcessInfo.processInfo.environment["GUESTKIT_KERNEL_DIR"], "GUESTKIT_KERNEL_DIR (make kernel)") + "/bzImage"
        let scratch = try ScratchDirectory("gk-death")
        let parent = try TestParent(["qemu-machine", kernel, scratch.path], scratch: scratch, expecting: ["qemu", "bridge"])
        try Self.expectGoneAfterSIGKILL(parent)
    }

    @Test func killingAProcessThatBootedAGuestThroughRunningGuestLeavesNoQemu() throws {
        let manifest = try #require(GuestUnderTest.manifest, "GUESTKIT_GUEST_DIR (make guest-image)")
        let scratch = try ScratchDirectory("gk-death")
        let parent = try TestParent(["boot", manifest, scratch.path], scratch: scratch, expecting: ["qemu", "bridge"])
        try Self.expectGoneAfterSIGKILL(parent)
    }

    /// Processes whose command line mentions `text` (the run directory is unique to one test).
    static func processes(mentioning text: String) -> [Int32] {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
        return pids.filter { $0 != getpid() && TestParent.isAlive($0) && NamespacedInit.commandLine(of: $0).contains(text) }
    }

    @Test func composeGuestBootInterruptedWhileBootingStopsQemuAndTheBridge() throws {
        let manifest = try #require(GuestUnderTest.manifest, "GUESTKIT_GUEST_DIR (make guest-image)")
        let scratch = try ScratchDirectory("gk-death")
        let runDirectory = scratch.file("run")
        var command = ChildCommand(BuiltProducts.path("compose-guest"),
                                   ["boot", "--manifest", manifest, "--accel", "tcg", "--run-dir", runDirectory, "--", "true"])
        command.output = .file(scratch.file("boot.log"))
        command.error = .standardOutput
        command.lifetime = .seconds(600)
        let boot = try ChildProcess(command)
        // QEMU has started once its console file exists; the agent is not up yet (TCG takes seconds).
        let deadline = ContinuousClock.now + .seconds(60)
        while !FileManager.default.fileExists(atPath: runDirectory + "/guest-console.log"), ContinuousClock.now < deadline, boot.isRunning {
            Thread.sleep(forTimeInterval: 0.02)
        }
        Thread.sleep(forTimeInterval: 0.3)
        let children = Self.processes(mentioning: runDirectory)
        #expect(children.count >= 2, "QEMU and the bridge run: \(children.map(NamespacedInit.commandLine(of:)))")
        try Processes.signal(boot.pid, Signal.interrupt)
        let status = boot.wait(timeout: .seconds(60))
        let log = (try? String(contentsOfFile: scratch.file("boot.log"), encoding: .utf8)) ?? ""
        #expect(status == .signaled(signal: Signal.interrupt, coreDumped: false), "\(String(describing: status)): \(log)")
        #expect(!log.contains("compose-guest boot: "), "an interrupt is not reported as an error: \(log)")
        #expect(TestParent.stillAlive(children, after: .seconds(15)).isEmpty)
        #expect(Self.processes(mentioning: runDirectory).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: runDirectory + "/guest.vsock"), "the bridge removed its sockets")
    }
}
