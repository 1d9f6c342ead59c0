// One QEMU boot watched through its serial console: the console goes to a file, the run ends when a
// marker line appears, QEMU exits, or a deadline passes. QEMU is a HostProcess child, so it is killed on
// every path: at the deadline (its lifetime), when the run returns or throws, and when the test process
// dies. Tests assert on the console text and print it when they fail. TCG only: KVM is not available on
// these machines.
import Foundation
import HostProcess

/// A finished QEMU boot and its console.
public struct QemuConsoleBoot: Sendable, CustomStringConvertible {
    /// Everything the guest wrote to its serial console (ttyS0).
    public let console: String
    public let sawMarker: Bool
    public let timedOut: Bool
    public let seconds: Double

    public var description: String {
        "QEMU boot (\(String(format: "%.1f", seconds)) s\(timedOut ? ", timed out" : "")); console:\n\(console)"
    }

    /// Boots `qemu-system-x86_64 -accel tcg -display none -monitor none -serial stdio` plus `arguments`
    /// and waits for a console line containing `marker`.
    public static func run(_ arguments: [String], marker: String, timeout: TimeInterval = 300,
                           qemu: String = "qemu-system-x86_64") throws -> QemuConsoleBoot {
        let scratch = try ScratchDirectory("qemu-console")
        let consoleFile = scratch.file("console.log")
        var command = ChildCommand(qemu, ["-accel", "tcg", "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot"]
            + arguments)
        command.output = .file(consoleFile, append: false)
        command.error = .standardOutput
        command.lifetime = .seconds(timeout + 15)
        let started = Date()
        let process = try ChildProcess(command)
        defer { process.kill() }
        var sawMarker = false
        var timedOut = false
        while process.isRunning {
            if let text = try? String(contentsOfFile: consoleFile, encoding: .utf8), text.contains(marker) {
                sawMarker = true
                break
            }
            if Date().timeIntervalSince(started) > timeout {
                timedOut = true
                break
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        if process.isRunning {
            // Give the guest a moment to finish the lines after the marker, then stop QEMU.
            if sawMarker { Thread.sleep(forTimeInterval: 1) }
            process.stop(grace: .seconds(10))
        }
        let console = (try? String(contentsOfFile: consoleFile, encoding: .utf8)) ?? ""
        return QemuConsoleBoot(console: console, sawMarker: sawMarker || console.contains(marker), timedOut: timedOut || process.timedOut,
                               seconds: Date().timeIntervalSince(started))
    }
}
