// One QEMU boot watched through its serial console: the console goes to a file, the run ends when a
// marker line appears, QEMU exits, or a deadline passes (then QEMU is killed). Tests assert on the
// console text and print it when they fail. TCG only: KVM is not available on these machines.
import Foundation

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
        FileManager.default.createFile(atPath: consoleFile, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: consoleFile))
        defer { try? output.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [qemu, "-accel", "tcg", "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot"]
            + arguments
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        let started = Date()
        try process.run()
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
            process.terminate()
            let stopDeadline = Date().addingTimeInterval(10)
            while process.isRunning && Date() < stopDeadline { Thread.sleep(forTimeInterval: 0.1) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        let console = (try? String(contentsOfFile: consoleFile, encoding: .utf8)) ?? ""
        return QemuConsoleBoot(console: console, sawMarker: sawMarker || console.contains(marker), timedOut: timedOut,
                               seconds: Date().timeIntervalSince(started))
    }
}
