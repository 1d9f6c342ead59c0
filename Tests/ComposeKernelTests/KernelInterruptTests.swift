// `compose-guest kernel` stopped with Ctrl-C in the middle of a real build: Debian's kernel tree from the
// cache (out/kernel-cache), the kvmtool profile with a KCFLAGS define no other build uses, so make starts
// from an empty object directory and has minutes of work ahead when the SIGINT comes. compose-guest passes
// the signal to make's process group, so nothing of the build is left running; nothing appears at -o; and
// compose-guest itself ends by SIGINT.
import Foundation
import GuestSys
import GuestTestSupport
import HostProcess
import Testing
@testable import ComposeKernel

struct KernelInterruptTests {
    /// Processes whose command line or working directory is inside `directory` (the build's objects).
    static func processes(inside directory: String) -> [Int32] {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
        return pids.filter { pid in
            guard pid != getpid(), TestParent.isAlive(pid) else { return false }
            let cwd = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")) ?? ""
            return cwd.hasPrefix(directory) || NamespacedInit.commandLine(of: pid).contains(directory)
        }
    }

    @Test(.timeLimit(.minutes(20)))
    func sigintStopsTheMakeItStartedAndLeavesNothingAtTheOutput() throws {
        try #require(RealTree.available, "needs Debian's linux-source tarball (make deps)")
        _ = try RealTree.source.get()  // unpacked once into the cache, shared with the other tests
        let define = "KCFLAGS=-DGUESTKIT_INTERRUPT_TEST=\(getpid())"
        let plan = try FragmentLibraryTests.library.plan(arch: .x86_64, profiles: ["kvmtool"])
        var builder = KernelBuilder(configurator: try RealTree.configurator(.x86_64))
        builder.makeVariables = [define]
        let objects = builder.objectDirectory(plan).path
        defer { try? FileManager.default.removeItem(atPath: objects) }
        let scratch = try ScratchDirectory("kernel-interrupt")
        let output = scratch.file("kernel")

        var command = ChildCommand(BuiltProducts.path("compose-guest"),
                                   ["kernel", "--debian-source", "--cache-dir", RealTree.cache.path, "--vmm", "kvmtool",
                                    "--make-var", define, "--jobs", "2", "-o", output])
        command.output = .file(scratch.file("compose.log"))
        command.error = .standardOutput
        command.lifetime = .seconds(1200)
        let compose = try ChildProcess(command)
        // Wait until make is compiling (its log names objects), so the signal lands mid-build.
        let deadline = ContinuousClock.now + .seconds(600)
        var compiling = false
        while !compiling, compose.isRunning, ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.2)
            let text = (try? String(contentsOfFile: scratch.file("compose.log"), encoding: .utf8)) ?? ""
            guard let logLine = text.split(separator: "\n").first(where: { $0.contains("(log: ") }),
                  let start = logLine.range(of: "(log: ")?.upperBound else { continue }
            let log = String(logLine[start...].dropLast())
            compiling = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
                .filter { $0.hasPrefix("  CC ") }.count >= 20
        }
        let log = { (try? String(contentsOfFile: scratch.file("compose.log"), encoding: .utf8)) ?? "" }
        try #require(compiling, "the build never got going: \(log())")
        let building = Self.processes(inside: objects)
        #expect(building.contains { NamespacedInit.commandLine(of: $0).hasPrefix("make ") }, "make runs: \(building)")

        try Processes.signal(compose.pid, Signal.interrupt)
        let status = compose.wait(timeout: .seconds(120))
        #expect(status == .signaled(signal: Signal.interrupt, coreDumped: false), "\(String(describing: status)): \(log())")
        let left = TestParent.stillAlive(Self.processes(inside: objects), after: .seconds(15))
        #expect(left.isEmpty, "left running: \(left.map(NamespacedInit.commandLine(of:)))")
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["compose.log"])
        #expect(!log().contains("compose-guest kernel: "), "an interrupt is not reported as a failed build: \(log())")
    }
}
