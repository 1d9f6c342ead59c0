// A QEMU guest for tests: boots a kernel (and initrd) under TCG with its serial console captured to a
// file, waits for console lines, and always ends the VM. Every run is bounded twice: each wait has its
// own timeout, and QEMU has a lifetime after which HostProcess kills it even if nobody waits. QEMU is a
// HostProcess child, so it also dies with the test process, however that dies. KVM is never used
// (`-accel tcg`): the test machines have none.
//
// Typical use:
//     var config = QemuMachine.Configuration(kernel: kernelPath, initrd: initrdPath)
//     config.extraArguments += bridge.qemuArguments            // devices, chardevs…
//     try QemuMachine.with(config, in: scratch) { vm in
//         try vm.waitForConsole("vsock-peer: ready", timeout: .seconds(120))
//         …                                                    // talk to the guest
//     }                                                        // QEMU killed here; console printed on error
import Foundation
import GuestSys
import HostProcess

/// A running (or finished) QEMU process with its console in a file.
public final class QemuMachine: @unchecked Sendable {
    // Sendable so a test can hand it to a helper thread: its own fields are immutable, and the child's
    // status lives in HostProcess's ChildProcess behind a lock.

    /// How to start the VM.
    public struct Configuration: Sendable {
        /// The QEMU binary, searched in PATH.
        public var binary = "qemu-system-x86_64"
        public var kernel: String
        public var initrd: String?
        /// The kernel command line; the console must be ttyS0 for `waitForConsole` to see it.
        public var commandLine = "console=ttyS0 panic=-1"
        /// `-machine` type; with `sharedMemory` the memory backend is attached to it.
        public var machine = "q35"
        public var memoryMiB = 512
        public var cpus = 1
        /// Guest RAM as a shared memfd (`memory-backend-memfd,share=on`): required by vhost-user devices
        /// such as guest-vsock-bridge, which map guest memory.
        public var sharedMemory = true
        /// More arguments: devices, chardevs, drives.
        public var extraArguments: [String] = []
        /// Hard limit on the VM's life, enforced by HostProcess even if nobody waits for the VM.
        public var maximumLifetime: Duration = .seconds(900)
        /// A label for messages and file names.
        public var name = "guest"
        /// `-no-reboot`: a guest reboot ends QEMU. Off to let `monitor("system_reset")` reset the machine
        /// in place (with it on, QEMU 7.2 treats that reset as a shutdown).
        public var exitOnReboot = true

        public init(kernel: String, initrd: String? = nil) {
            self.kernel = kernel
            self.initrd = initrd
        }

        /// The full QEMU argument list (without the binary).
        public var arguments: [String] {
            var args = ["-accel", "tcg", "-nodefaults", "-no-user-config", "-display", "none",
                        "-smp", "\(cpus)", "-m", "\(memoryMiB)M"]
            if exitOnReboot { args.append("-no-reboot") }
            if sharedMemory {
                args += ["-object", "memory-backend-memfd,id=guestmem,size=\(memoryMiB)M,share=on",
                         "-machine", "\(machine),memory-backend=guestmem"]
            } else {
                args += ["-machine", machine]
            }
            args += ["-kernel", kernel]
            if let initrd { args += ["-initrd", initrd] }
            args += ["-append", commandLine]
            return args + extraArguments
        }
    }

    /// A failed wait: says what was awaited and ends with the console's last lines.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    public let configuration: Configuration
    /// The guest's serial console (ttyS0), written by QEMU as the guest runs.
    public let consolePath: String
    /// QEMU's own standard output and error.
    public let qemuLogPath: String
    /// The human monitor (HMP) socket; see `monitor(_:)`.
    public let monitorPath: String
    private let process: ChildProcess

    /// Starts QEMU. Files go into `directory` (a test's scratch directory).
    public init(_ configuration: Configuration, directory: String) throws {
        self.configuration = configuration
        consolePath = (directory as NSString).appendingPathComponent("\(configuration.name)-console.log")
        qemuLogPath = (directory as NSString).appendingPathComponent("\(configuration.name)-qemu.log")
        monitorPath = (directory as NSString).appendingPathComponent("\(configuration.name)-monitor.sock")
        _ = FileManager.default.createFile(atPath: consolePath, contents: nil)
        var command = ChildCommand(configuration.binary, configuration.arguments
            + ["-serial", "file:\(consolePath)", "-monitor", "unix:\(monitorPath),server=on,wait=off"])
        command.output = .file(qemuLogPath)
        command.error = .standardOutput
        command.lifetime = configuration.maximumLifetime
        process = try ChildProcess(command)
    }

    /// QEMU's pid (also its process group id).
    public var pid: Int32 { process.pid }

    /// Boots a machine, runs `body`, and always stops the machine; when `body` throws, the console and
    /// QEMU's log are printed before the error goes on (so a failing test shows what the guest said).
    public static func with<R>(_ configuration: Configuration, in directory: String,
                               _ body: (QemuMachine) throws -> R) throws -> R {
        let machine = try QemuMachine(configuration, directory: directory)
        defer { machine.stop() }
        do {
            return try body(machine)
        } catch {
            machine.printDiagnostics(reason: "\(error)")
            throw error
        }
    }

    /// Everything the console has shown so far.
    public var console: String {
        (try? String(contentsOfFile: consolePath, encoding: .utf8)) ?? ""
    }

    /// The console's last `lines` lines, for failure messages.
    public func consoleTail(_ lines: Int = 40) -> String {
        console.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    public var qemuLog: String { (try? String(contentsOfFile: qemuLogPath, encoding: .utf8)) ?? "" }

    public var isRunning: Bool { process.isRunning }

    /// Waits until the console contains `text`; throws on timeout or if QEMU exits first.
    public func waitForConsole(_ text: String, timeout: Duration = .seconds(120)) throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            if console.contains(text) { return }
            if !process.isRunning {
                if console.contains(text) { return }
                throw Failure(description: "QEMU (\(configuration.name)) \(process.exitStatus.map { "\($0)" } ?? "ended") before the console showed \(text.debugDescription)\nQEMU: \(qemuLog)\nconsole:\n\(consoleTail())")
            }
            if ContinuousClock.now >= deadline {
                throw Failure(description: "the console did not show \(text.debugDescription) within \(timeout)\nconsole:\n\(consoleTail())")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Runs a human-monitor command ("system_reset", "info pci", …) and returns its output.
    public func monitor(_ command: String, timeout: Duration = .seconds(30)) throws -> String {
        let deadline = ContinuousClock.now + timeout
        var fd: FileDescriptor?
        while fd == nil {
            do { fd = try Sockets.connect(.unix(monitorPath)) } catch {
                guard ContinuousClock.now < deadline, process.isRunning else {
                    throw Failure(description: "no QEMU monitor at \(monitorPath): \(error)")
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        let socket = fd!
        defer { socket.closeQuietly() }
        try socket.setNonBlocking()
        func readUntilPrompt() throws -> String {
            var text = ""
            while !text.hasSuffix("(qemu) ") {
                guard ContinuousClock.now < deadline else {
                    throw Failure(description: "QEMU monitor: no prompt within \(timeout) after \(command.debugDescription): \(text)")
                }
                do {
                    let bytes = try socket.read(upTo: 4096)
                    if bytes.isEmpty { throw Failure(description: "QEMU monitor closed: \(text)") }
                    text += String(decoding: bytes, as: UTF8.self)
                } catch let error as SysError where error.code == Errno.EAGAIN {
                    Thread.sleep(forTimeInterval: 0.02)
                }
            }
            return text
        }
        _ = try readUntilPrompt()                      // the banner
        try socket.writeAll(command + "\n")
        let output = try readUntilPrompt()
        return String(output.dropLast("(qemu) ".count))
    }

    /// Waits for QEMU to exit by itself; returns how it ended, or nil if it still runs at the deadline.
    public func waitForExit(timeout: Duration) -> WaitStatus? {
        process.wait(timeout: timeout)
    }

    /// Ends QEMU: SIGTERM to its process group, SIGKILL after 10 s if it lingers. Idempotent.
    public func stop() {
        process.stop()
    }

    /// Prints the console and QEMU's log (for a failing test).
    public func printDiagnostics(reason: String) {
        print("""
            ---- \(configuration.name): \(reason)
            ---- QEMU command: \(configuration.binary) \(configuration.arguments.joined(separator: " "))
            ---- QEMU log:
            \(qemuLog)
            ---- console (\(consolePath)):
            \(console)
            ---- end of \(configuration.name)
            """)
    }

    deinit { stop() }
}
