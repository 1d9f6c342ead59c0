// guestkit-test-parent as a test starts it: the children it reports ("qemu 1234"), and whether they
// are still alive after it was killed or signalled.
import Foundation
import GuestSys
import HostProcess

/// A running guestkit-test-parent and the pids it printed.
public final class TestParent: @unchecked Sendable {
    // Immutable after init; `process` guards its own state.
    public let process: ChildProcess
    /// Each reported child by name ("leader", "member", "qemu", "bridge").
    public let pids: [String: Int32]
    public let outputPath: String

    /// Starts `guestkit-test-parent ARGUMENTS` and waits until it has printed a pid for every name in `expecting`.
    public init(_ arguments: [String], scratch: ScratchDirectory, expecting names: [String],
                timeout: Duration = .seconds(120)) throws {
        outputPath = scratch.file("test-parent.out")
        var command = ChildCommand(BuiltProducts.path("guestkit-test-parent"), arguments)
        command.output = .file(outputPath, append: false)
        command.error = .standardOutput
        command.lifetime = .seconds(900)
        process = try ChildProcess(command)
        let deadline = ContinuousClock.now + timeout
        var found: [String: Int32] = [:]
        while true {
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ")
                if words.count == 2, let pid = Int32(words[1]), pid > 0 { found[String(words[0])] = pid }
            }
            if names.allSatisfy({ found[$0] != nil }) { break }
            guard process.isRunning, ContinuousClock.now < deadline else {
                process.kill()
                throw QemuMachine.Failure(description: "guestkit-test-parent \(arguments.joined(separator: " ")) did not report \(names) within \(timeout): \(text)")
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        pids = found
    }

    /// Whether a process exists and is not a zombie (a zombie has ended; only its parent's wait is missing).
    public static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)...].first
        return state != "Z" && state != "X"
    }

    /// Waits until none of `pids` is alive; returns those still alive at the deadline.
    public static func stillAlive(_ pids: [Int32], after timeout: Duration) -> [Int32] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let alive = pids.filter(isAlive)
            if alive.isEmpty || ContinuousClock.now >= deadline { return alive }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// What the parent printed.
    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    deinit { process.kill() }
}
