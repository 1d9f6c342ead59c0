// containerd figures: `ctr run --rm IMAGE ID true` wall time through containerd-shim-guestkit-v1 beside
// io.containerd.runc.v2 in the same run (a containerd of the bench's own, Debian's, with a busybox image),
// and our time split by the shim's log: ctr to the shim serving, shim serving to the guest's agent ready
// (rootfs share, QEMU and bridge started, the guest booted), agent ready to the container started, the exit
// to the VM powered off, and the rest (containerd's delete and ctr's exit). Prints, asserts nothing.
import ArgumentParser
import Foundation
import HostProcess
import LocalContainerd
import OCILayout

struct ShimBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shim", abstract: "ctr run --rm … true: our runtime beside runc, and where our time goes.")

    @Option(help: "The guest image's manifest (make guest-image).") var manifest: String
    @Option(help: "The shim executable.") var shim: String
    @Option(help: "The guest-vsock-bridge executable.") var bridge: String
    @Option(help: "Runs per runtime (medians are printed).") var runs: Int = 5
    @Option(help: "Scratch directory (short: Unix socket paths).") var scratch: String = "/tmp/gk-bench-shim"

    func run() throws {
        try? FileManager.default.removeItem(atPath: scratch)
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
        let containerd = try LocalContainerd(directory: scratch, shim: absolute(shim), shimConfig: """
            [guest]
            manifest = "\(absolute(manifest))"
            accelerator = "tcg"
            memory_mib = 256
            [shim]
            log_level = "debug"
            bridge = "\(absolute(bridge))"
            run_root = "\(scratch)/run"
            """)
        defer { containerd.stop() }
        try ctr(containerd, ["images", "import", "--all-platforms", try BusyboxImage.build(in: scratch + "/image")])
        print("shim: ctr run --rm \(BusyboxImage.reference) ID true, \(runs) runs per runtime after one warm-up each; medians, ms")

        var ours: [Double] = [], runc: [Double] = []
        var phases: [[Double]] = Array(repeating: [], count: ShimPhases.names.count)
        for index in 0...runs {
            let id = "bench-gk-\(index)"
            let logStart = containerd.logSize
            let start = Date()
            try ctr(containerd, ["run", "--rm", "--runtime", "io.containerd.guestkit.v1", BusyboxImage.reference, id, "true"])
            let end = Date()
            guard index > 0 else { continue }
            ours.append(end.timeIntervalSince(start) * 1000)
            let split = try ShimPhases(log: containerd.log(from: logStart), id: id, start: start, end: end)
            for (i, value) in split.milliseconds.enumerated() { phases[i].append(value) }
        }
        for index in 0...runs {
            let start = Date()
            try ctr(containerd, ["run", "--rm", "--runtime", "io.containerd.runc.v2", BusyboxImage.reference, "bench-runc-\(index)", "true"])
            if index > 0 { runc.append(Date().timeIntervalSince(start) * 1000) }
        }
        print(String(format: "  io.containerd.guestkit.v1 (TCG): %.0f ms", median(ours)))
        for (name, samples) in zip(ShimPhases.names, phases) {
            print(String(format: "    %@ %.0f ms", name.padding(toLength: 50, withPad: " ", startingAt: 0), median(samples)))
        }
        print(String(format: "  io.containerd.runc.v2: %.0f ms", median(runc)))
        print(String(format: "  ours / runc: %.1f×", median(ours) / median(runc)))
    }

    func median(_ samples: [Double]) -> Double { LatencySummary(samples).percentile(0.5) }

    /// `ctr` against the bench's containerd; throws with its output when it fails.
    func ctr(_ containerd: LocalContainerd, _ arguments: [String]) throws {
        let result = try containerd.ctr(arguments)
        guard result.succeeded else { throw ValidationError("ctr \(arguments.joined(separator: " ")): \(result)") }
    }
}

/// One `ctr run --rm` of ours split at the shim's log lines for the task.
struct ShimPhases {
    static let names = ["ctr run → shim serving", "shim serving → agent ready (share, QEMU, boot)",
                        "agent ready → container started", "container started → exit event",
                        "exit → VM powered off", "VM powered off → ctr done (delete)"]
    let milliseconds: [Double]

    init(log: String, id: String, start: Date, end: Date) throws {
        func time(_ message: String) throws -> Date {
            for line in log.split(separator: "\n") where line.contains("id=\(id)") && line.contains(message) {
                guard let open = line.range(of: "time=\""), let close = line[open.upperBound...].firstIndex(of: "\""),
                      let date = Self.parser.date(from: String(line[open.upperBound..<close])) else { continue }
                return date
            }
            throw ValidationError("the shim's log has no \"\(message)\" line for \(id)")
        }
        let marks = [start, try time("serving task"), try time("agent ready"), try time("container started in the guest"),
                     try time("event /tasks/exit"), try time("VM powered off"), end]
        milliseconds = (1..<marks.count).map { marks[$0].timeIntervalSince(marks[$0 - 1]) * 1000 }
    }

    nonisolated(unsafe) static let parser: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
}
