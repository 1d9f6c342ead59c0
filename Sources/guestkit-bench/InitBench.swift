// guestkit-bench init: guest-init natively, as PID 1 of fresh PID + mount + UTS + network namespaces
// (util-linux unshare), with a stand-in agent (`echo READY >&3; exec sleep 1000`). Figures per run,
// from guest-init's own /run/guest/boot.json (CLOCK_BOOTTIME) and /proc/PID/smaps_rollup:
//   init start → agent started: agent_started − init_started (guest-init's own work, goal ≤ 5 ms)
//   launch → agent ready: from just before starting unshare to the agent's READY (adds namespace
//     creation, two execs and the dynamic loader)
//   idle private dirty memory of guest-init once the agent is ready (goal ≤ 3 MiB)
// Prints medians and spreads; asserts nothing.
import ArgumentParser
import Foundation
import HostProcess

struct InitBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "guest-init: start → stand-in agent started in a PID namespace, and idle private dirty memory.")

    @Option(help: "The guest-init binary to measure (make bench-init passes the static release build).")
    var guestInit: String

    @Option(help: "How many boots to measure.")
    var runs = 50

    func run() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else {
            throw ValidationError("needs root and util-linux unshare (namespaces)")
        }
        guard FileManager.default.isExecutableFile(atPath: guestInit) else {
            throw ValidationError("no executable at \(guestInit)")
        }
        // A freshly linked binary's page-cache pages are dirty until written back, and smaps counts them
        // as the mapping's private dirty memory: flush first so only guest-init's own memory shows.
        sync()

        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("guestkit-bench-init-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let agent = scratch.appendingPathComponent("agent").path
        try "#!/bin/sh\necho READY >&3\nexec sleep 1000\n".write(toFile: agent, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: agent)

        var inInit: [Double] = []
        var launchToReady: [Double] = []
        var privateDirty: [Double] = []
        var rss: [Double] = []
        for index in 0..<runs {
            let run = try boot(index: index, scratch: scratch, agent: agent)
            inInit.append(run.inInitMilliseconds)
            launchToReady.append(run.launchToReadyMilliseconds)
            privateDirty.append(run.privateDirtyKiB / 1024)
            rss.append(run.rssKiB / 1024)
        }

        print("guest-init (\(guestInit)), \(runs) boots as PID 1 of a PID namespace, stand-in agent /bin/sh:")
        print("  init start → agent started:  " + summary(inInit, unit: "ms") + "   (goal ≤ 5 ms)")
        print("  launch → agent ready:        " + summary(launchToReady, unit: "ms") + "   (unshare + exec + loader + init + agent)")
        print("  idle private dirty memory:   " + summary(privateDirty, unit: "MiB") + "   (goal ≤ 3 MiB)")
        print("  idle RSS:                    " + summary(rss, unit: "MiB"))
    }

    private struct Run {
        var inInitMilliseconds: Double
        var launchToReadyMilliseconds: Double
        var privateDirtyKiB: Double
        var rssKiB: Double
    }

    private func boot(index: Int, scratch: URL, agent: String) throws -> Run {
        let runDirectory = scratch.appendingPathComponent("run-\(index)").path
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        var command = ChildCommand("/usr/bin/unshare", [
            "--pid", "--mount", "--uts", "--net", "--fork", "--mount-proc",
            "/bin/sh", "-c", "run=$1; shift; mount --bind \"$run\" /run && exec \"$@\"", "sh",
            runDirectory, guestInit, "--cmdline", "guest.agent=\(agent) guest.log=warn guest.shutdown_grace=1"])
        command.output = .null
        command.error = .null
        let launched = bootTimeNanoseconds()
        let process = try ChildProcess(command)

        let bootFile = runDirectory + "/guest/boot.json"
        let deadline = Date().addingTimeInterval(30)
        var document: [String: Any]?
        while document == nil && Date() < deadline && process.isRunning {
            if let data = FileManager.default.contents(atPath: bootFile) {
                document = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            }
            if document == nil { usleep(500) }
        }
        let initPID = children(of: process.pid).first
        defer {
            if let initPID { kill(initPID, SIGTERM) }
            process.wait()
        }
        guard let document, let stages = document["stages"] as? [[String: Any]] else {
            throw ValidationError("boot \(index): no /run/guest/boot.json within 30 s")
        }
        var times: [String: UInt64] = [:]
        for stage in stages {
            if let name = stage["name"] as? String, let ns = (stage["boottime_ns"] as? NSNumber)?.uint64Value { times[name] = ns }
        }
        guard let started = times["init_started"], let agentStarted = times["agent_started"],
              let ready = times["agent_ready"] else {
            throw ValidationError("boot \(index): boot.json lacks stages: \(times.keys.sorted())")
        }
        // Idle: the agent is up and guest-init waits in epoll. Give it a moment, then read its memory.
        usleep(100_000)
        let memory = initPID.map(smapsRollup) ?? [:]
        return Run(inInitMilliseconds: Double(agentStarted - started) / 1e6,
                   launchToReadyMilliseconds: Double(ready - launched) / 1e6,
                   privateDirtyKiB: memory["Private_Dirty"] ?? .nan, rssKiB: memory["Rss"] ?? .nan)
    }

    private func children(of pid: Int32) -> [Int32] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { Int32($0) }
    }

    /// Fields of /proc/PID/smaps_rollup in KiB.
    private func smapsRollup(_ pid: Int32) -> [String: Double] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8)) ?? ""
        var fields: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, parts[0].hasSuffix(":"), let value = Double(parts[1]) {
                fields[String(parts[0].dropLast())] = value
            }
        }
        return fields
    }

    private func bootTimeNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    private func summary(_ values: [Double], unit: String) -> String {
        let sorted = values.filter { !$0.isNaN }.sorted()
        guard !sorted.isEmpty else { return "no data" }
        func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * q + 0.5))] }
        let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2]
            : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        return String(format: "median %.3f ", median) + unit
            + String(format: " (p10 %.3f, p90 %.3f, min %.3f, max %.3f, n=%d)",
                     at(0.1), at(0.9), sorted.first!, sorted.last!, sorted.count)
    }
}
