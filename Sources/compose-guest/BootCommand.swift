// `compose-guest boot`: boot a composed image under QEMU (with guest-vsock-bridge), show the boot timeline,
// run a command through the agent, and power the guest off — or keep it running for guestctl.
// Ctrl-C (or SIGTERM) in any phase stops QEMU and the bridge (TerminationSignals passes the signal to
// them, then compose-guest ends with it); with --keep-running, once the guest is up, it powers the guest
// off through the agent instead, and a second one stops QEMU at once.
import ArgumentParser
import ComposeImage
import Foundation
import GuestClient
import GuestLaunch
import GuestProto
import GuestSys
import HostProcess

struct BootCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot",
        abstract: "Boot an image under QEMU, run a command in it through the agent, and power it off.",
        discussion: """
            Starts guest-vsock-bridge and QEMU with the launch line `compose-guest launch --vmm qemu` prints \
            (console in RUN-DIR/guest-console.log), waits for the agent, prints the boot timeline, runs the \
            command after -- (if any) with its output here, then asks the agent to power the guest off and \
            waits for QEMU to exit. With --keep-running the guest stays up for `guestctl exec --agent …` until \
            Ctrl-C, which powers it off.
            """)

    @Option(help: "The image's manifest (PATH.manifest.json).") var manifest: String
    @Option(help: "QEMU machine: q35 (virtio-pmem root with DAX) or microvm (virtio-blk root, vmlinux via PVH).")
    var machine: String = "q35"
    @Option(help: "auto (KVM when it runs guests here, else TCG), kvm or tcg.") var accel: String = "auto"
    @Option(help: "Boot this kernel instead of the manifest's.") var kernel: String?
    @Option(help: "Boot this initramfs first (disk images only).") var initrd: String?
    @Option(help: "Guest memory in MiB (default: the manifest's).") var memory: Int?
    @Option(name: .customLong("append"), help: "Append a kernel parameter (repeatable).") var appends: [String] = []
    @Option(help: "Directory for the console log, QEMU's log and the sockets (default: beside the image).")
    var runDir: String?
    @Option(help: "Seconds to wait for the agent.") var timeout: Int = 300
    @Flag(help: "Leave the guest running after the command; Ctrl-C powers it off.") var keepRunning = false
    @Flag(help: "The kernel's whole log on the console (default: quiet, warnings and worse).") var kernelLog = false
    @Flag(name: .customLong("no-free-page-reporting"), help: "No virtio-balloon free page reporting device.") var noFreePageReporting = false
    @Argument(parsing: .captureForPassthrough, help: "A command to run in the guest (after --).") var command: [String] = []

    func run() throws {
        guard let choice = AcceleratorChoice(rawValue: accel) else {
            throw ValidationError("--accel \(accel): expected auto, kvm or tcg")
        }
        let argv = command.first == "--" ? Array(command.dropFirst()) : command
        let imageDirectory = URL(fileURLWithPath: manifest).standardizedFileURL.deletingLastPathComponent().path
        var request = BootRequest(manifestPath: manifest, runDirectory: runDir ?? imageDirectory + "/run")
        request.machine = machine
        request.accelerator = choice
        request.overrides.kernel = kernel
        request.overrides.initrd = initrd
        request.overrides.memoryMiB = memory
        request.overrides.appends = appends
        if kernelLog { request.overrides.kernelLog = true }
        if noFreePageReporting { request.overrides.freePageReporting = false }

        let guest: RunningGuest
        do { guest = try RunningGuest(request) } catch { throw fail("\(error)") }
        defer { guest.stop() }
        say("boot: QEMU \(machine) (\(guest.accelerator)) started; console: \(guest.consolePath)")
        if let note = guest.acceleratorNote { say("boot: \(note)") }

        let client: GuestClient
        let snapshot: GuestInfoSnapshot
        do { (client, snapshot) = try guest.connectAgent(timeout: .seconds(timeout)) } catch { throw fail("\(error)") }
        let info = snapshot.info
        say("boot: agent \(info.agentVersion) answered \(Self.text(snapshot.answeredAfter)) after QEMU started (host time)")
        say("boot: kernel \(info.kernelRelease), root \(info.root.source) \(info.root.type)\(info.root.dax ? " mounted with DAX" : " without DAX")")
        say("boot: timeline (guest CLOCK_BOOTTIME since the kernel started):")
        snapshot.timelineLines.forEach { say($0) }

        var exitCode: Int32 = 0
        if !argv.isEmpty {
            var start = Guestkit_V1_StartProcessRequest()
            start.args = argv
            say("boot: $ \(argv.joined(separator: " "))")
            do {
                let exit = try ProcessRun(request: start, stdout: .standardOutput, stderr: .standardError).run(on: client)
                say("boot: \(argv[0]) \(exit)")
                exitCode = exit.shellCode
            } catch { throw fail("running \(argv.joined(separator: " ")) in the guest: \(error)") }
        }

        if keepRunning {
            say("""
                boot: the guest is running. From another shell:
                  guestctl exec --agent \(guest.agentAddress) -- uname -a
                  guestctl exec --agent \(guest.agentAddress) -t -i -- /bin/sh    (if the image has a shell)
                boot: Ctrl-C powers it off.
                """)
            TerminationSignals.catching { signals in
                while guest.isRunning, signals.next(timeout: .milliseconds(200)) == nil {}
            }
            guard guest.isRunning else {
                say("boot: QEMU exited by itself")
                return
            }
        }
        do {
            let took = try guest.shutdown(client, timeout: .seconds(60))
            say("boot: powered off; QEMU exited \(Self.text(took)) after Shutdown")
        } catch { throw fail("\(error)") }
        say("boot: run it again with `make run`, or by hand: \(ShellQuoting.line(guest.qemuArguments)) (start guest-vsock-bridge first: compose-guest launch --vmm vsock-bridge --manifest \(manifest))")
        if exitCode != 0 { throw ExitCode(exitCode) }
    }

    /// Our lines and the guest command's output share stdout: writing each line straight to the descriptor
    /// (not through print's buffer) keeps them in order.
    func say(_ text: String) {
        try? FileDescriptor.standardOutput.writeAll(text + "\n")
    }

    func fail(_ message: String) -> ExitCode { commandFailure("boot", message) }

    static func text(_ duration: Duration) -> String {
        let ms = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        return ms >= 1000 ? String(format: "%.2f s", ms / 1000) : String(format: "%.0f ms", ms)
    }
}
