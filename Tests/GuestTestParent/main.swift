// A test-support process that starts children the way host tools and test helpers do, prints their pids,
// and waits. The process-death tests start it, SIGKILL (or SIGINT) it, and check what it left running.
//
//     guestkit-test-parent children DIR          `sh -c 'sleep & sleep'`: a leader and a member of its group
//     guestkit-test-parent interrupt DIR         the same under TerminationSignals, with a cleanup of DIR/partial
//     guestkit-test-parent qemu-machine KERNEL DIR   QemuMachine + VsockBridgeProcess (the test helpers)
//     guestkit-test-parent boot MANIFEST DIR     RunningGuest from a manifest (what compose-guest boot uses)
import Foundation
import GuestLaunch
import GuestSys
import GuestTestSupport
import HostProcess

func say(_ text: String) { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }

func waitForever(_ keep: Any...) -> Never {
    while true { Thread.sleep(forTimeInterval: 3600); withExtendedLifetime(keep) {} }
}

/// A shell that reports its background sleep's pid, then waits on it: two processes in one group. With
/// `marker`, SIGINT makes the shell write the marker file before it exits.
func startFamily(in directory: String, marker: String? = nil) throws -> ChildProcess {
    let trap = marker.map { "trap 'echo interrupted > \($0); exit 3' INT; " } ?? ""
    var command = ChildCommand("/bin/sh", ["-c", trap + "sleep 1000 & echo $! > \(directory)/member; wait"])
    command.output = .null
    let child = try ChildProcess(command)
    let memberFile = directory + "/member"
    while (try? String(contentsOfFile: memberFile, encoding: .utf8))?.hasSuffix("\n") != true {
        Thread.sleep(forTimeInterval: 0.01)
    }
    let member = (try? String(contentsOfFile: memberFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "0"
    say("leader \(child.pid)")
    say("member \(member)")
    return child
}

let arguments = CommandLine.arguments
do {
    switch (arguments.count, arguments.count > 1 ? arguments[1] : "") {
    case (3, "children"):
        waitForever(try startFamily(in: arguments[2]))
    case (3, "interrupt"):
        TerminationSignals.install(grace: .seconds(5))
        let partial = arguments[2] + "/partial"
        _ = FileManager.default.createFile(atPath: partial, contents: Data("half".utf8))
        TerminationSignals.onTermination { try? FileManager.default.removeItem(atPath: partial) }
        waitForever(try startFamily(in: arguments[2], marker: arguments[2] + "/leader-saw-sigint"))
    case (4, "qemu-machine"):
        let bridge = try VsockBridgeProcess(directory: arguments[3])
        var configuration = QemuMachine.Configuration(kernel: arguments[2])
        configuration.extraArguments += bridge.qemuArguments
        let machine = try QemuMachine(configuration, directory: arguments[3])
        say("qemu \(machine.pid)")
        say("bridge \(bridge.pid)")
        waitForever(bridge, machine)
    case (4, "boot"):
        var request = BootRequest(manifestPath: arguments[2], runDirectory: arguments[3])
        request.accelerator = .tcg
        request.bridgeExecutable = BuiltProducts.path("guest-vsock-bridge")
        let guest = try RunningGuest(request)
        say("qemu \(guest.qemuPID)")
        say("bridge \(guest.bridgePID ?? 0)")
        waitForever(guest)
    default:
        FileHandle.standardError.write(Data("usage: guestkit-test-parent children DIR | interrupt DIR | qemu-machine KERNEL DIR | boot MANIFEST DIR\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("guestkit-test-parent: \(error)\n".utf8))
    exit(1)
}
