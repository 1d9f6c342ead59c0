// `guestkit-bench bridge`: guest-vsock-bridge throughput and connect latency under TCG, beside the same
// transfers over QEMU's virtio-serial (a virtserialport on a Unix socket chardev) in the same VM, as the
// reference. The guest is the bridge's test guest (make bridge-guest): vsock-peer's sink (5001), source
// (5002) and echo (5000) services, and its "bench" serial port. Prints figures only.
import ArgumentParser
import Foundation
import GuestLaunch
import GuestSys
import HostProcess

struct BridgeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bridge",
        abstract: "guest-vsock-bridge throughput and connect latency under TCG, beside virtio-serial.")

    @Option(help: "Guest kernel (Debian's cloud kernel: out/debian-kernel/vmlinuz).")
    var kernel: String

    @Option(help: "The bridge's test initramfs (out/bridge/initramfs.cpio.gz).")
    var initramfs: String

    @Option(help: "The guest-vsock-bridge executable.")
    var bridge: String

    @Option(help: "MiB per direction for the throughput runs.")
    var mebibytes = 64

    @Option(help: "Connect round trips to time.")
    var connects = 100

    func run() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bridge-bench-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            try measure(in: directory)
        } catch {
            // Show what the guest and the bridge said before giving up.
            for name in ["bridge.log", "console.log", "qemu.log"] {
                print("---- \(name):\n" + ((try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? "(none)"))
            }
            throw error
        }
    }

    private func measure(in directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let uds = directory + "/vsock.sock"
        let vhost = directory + "/vsock.vhost"
        let serialPath = directory + "/serial.sock"
        let console = directory + "/console.log"

        let bridgeProcess = try RunningGuest.startBridge(bridge, ["--socket", vhost, "--uds", uds, "--guest-cid", "3"],
                                                         logPath: directory + "/bridge.log")
        defer { bridgeProcess.stop() }

        var command = ChildCommand("qemu-system-x86_64", [
            "-accel", "tcg", "-nodefaults", "-no-user-config",
            "-display", "none", "-no-reboot", "-smp", "1", "-m", "512M",
            "-object", "memory-backend-memfd,id=mem,size=512M,share=on", "-machine", "q35,memory-backend=mem",
            "-kernel", kernel, "-initrd", initramfs, "-append", "console=ttyS0 panic=-1 quiet",
            "-serial", "file:\(console)",
            "-chardev", "socket,id=vsock0,path=\(vhost)", "-device", "vhost-user-vsock-pci,chardev=vsock0",
            "-device", "virtio-serial-pci", "-chardev", "socket,id=bench,path=\(serialPath),server=on,wait=off",
            "-device", "virtserialport,chardev=bench,name=bench",
        ])
        command.output = .file(directory + "/qemu.log")
        command.error = .standardOutput
        command.lifetime = .seconds(1800)
        let qemu = try ChildProcess(command)
        defer { qemu.stop() }
        try waitFor(timeout: 300) { (try? String(contentsOfFile: console, encoding: .utf8))?.contains("vsock-peer: ready") == true }

        // The console line comes from the guest; the first accepted CONNECT proves the whole path is up.
        try waitFor(timeout: 60) {
            guard let fd = try? Self.hybridConnect(uds, port: 5000) else { return false }
            fd.closeQuietly()
            return true
        }

        let bytes = mebibytes << 20
        let payload = [UInt8](repeating: 0x5a, count: bytes)
        print("bridge: QEMU 7.2 TCG, 1 vCPU, Debian cloud kernel; \(mebibytes) MiB per direction")

        // Connect latency first, on an idle VM.
        var samples: [Double] = []
        for _ in 0..<connects {
            let start = Clock.monotonicNanoseconds
            let fd = try Self.hybridConnect(uds, port: 5000)
            samples.append(Double(Clock.monotonicNanoseconds - start) / 1e6)
            fd.closeQuietly()
        }
        samples.sort()
        print(String(format: "  connect round trip (CONNECT → OK): median %.2f ms, p90 %.2f ms, min %.2f ms over %d",
                     samples[samples.count / 2], samples[samples.count * 9 / 10], samples[0], samples.count))
        var echoSamples: [Double] = []
        let echo = try Self.hybridConnect(uds, port: 5000)
        for _ in 0..<connects {
            let start = Clock.monotonicNanoseconds
            try echo.writeAll([1])
            _ = try echo.read(upTo: 1)
            echoSamples.append(Double(Clock.monotonicNanoseconds - start) / 1e6)
        }
        echo.closeQuietly()
        echoSamples.sort()
        print(String(format: "  1-byte echo round trip: median %.2f ms, p90 %.2f ms", echoSamples[echoSamples.count / 2],
                     echoSamples[echoSamples.count * 9 / 10]))

        for streams in [1, 8] {
            let share = bytes / streams
            let toGuest = try timed(streams) { _ in
                let fd = try Self.hybridConnect(uds, port: 5001)
                defer { fd.closeQuietly() }
                try payload.withUnsafeBytes { try fd.writeAll(UnsafeRawBufferPointer(rebasing: $0[..<share])) }
                try Sockets.shutdown(fd, .write)
                let answer = String(decoding: try fd.readToEnd(), as: UTF8.self)
                guard answer == "\(share)\n" else { throw BridgeBenchFailure("sink counted \(answer.debugDescription), sent \(share)") }
            }
            let fromGuest = try timed(streams) { _ in
                let fd = try Self.hybridConnect(uds, port: 5002)
                defer { fd.closeQuietly() }
                try fd.writeAll("\(share)\n")
                let got = try Self.drain(fd)
                guard got == share else { throw BridgeBenchFailure("source sent \(got) bytes, asked for \(share)") }
            }
            print(String(format: "  vsock via bridge, %d connection%@: host→guest %.1f MiB/s, guest→host %.1f MiB/s",
                         streams, streams == 1 ? "" : "s", Double(bytes) / 1048576 / toGuest, Double(bytes) / 1048576 / fromGuest))
        }

        // The reference: the same transfers over virtio-serial.
        let serial = try Sockets.connect(.unix(serialPath))
        defer { serial.closeQuietly() }
        let serialIn = try timed(1) { _ in
            try serial.writeAll("SINK \(bytes)\n")
            try serial.writeAll(payload)
            var line: [UInt8] = []
            while line.last != UInt8(ascii: "\n") { line += try serial.read(upTo: 1) }
            guard line == Array("DONE\n".utf8) else { throw BridgeBenchFailure("serial sink answered \(line)") }
        }
        let serialOut = try timed(1) { _ in
            try serial.writeAll("SOURCE \(bytes)\n")
            var got = 0
            while got < bytes {
                let chunk = try serial.read(upTo: min(65536, bytes - got))
                if chunk.isEmpty { throw BridgeBenchFailure("serial port closed after \(got) bytes") }
                got += chunk.count
            }
        }
        print(String(format: "  virtio-serial (reference), 1 port: host→guest %.1f MiB/s, guest→host %.1f MiB/s",
                     Double(bytes) / 1048576 / serialIn, Double(bytes) / 1048576 / serialOut))
    }

    /// Runs `body` on `count` threads at once (one each: concurrentPerform would run only as many as
    /// there are cores); returns the wall time in seconds.
    private func timed(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws -> Double {
        let failures = BridgeBenchFailures()
        let group = DispatchGroup()
        let start = Clock.monotonicNanoseconds
        for i in 0..<count {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                do { try body(i) } catch { failures.add("\(error)") }
            }
        }
        group.wait()
        let seconds = Double(Clock.monotonicNanoseconds - start) / 1e9
        if let first = failures.first { throw BridgeBenchFailure(first) }
        return seconds
    }

    private static func drain(_ fd: FileDescriptor) throws -> Int {
        var total = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try fd.read(into: $0) }
            if n == 0 { return total }
            total += n
        }
    }

    private static func hybridConnect(_ path: String, port: UInt32) throws -> FileDescriptor {
        let fd = try Sockets.connect(.unix(path))
        try fd.writeAll("CONNECT \(port)\n")
        var line: [UInt8] = []
        while line.last != UInt8(ascii: "\n") {
            let byte = try fd.read(upTo: 1)
            guard !byte.isEmpty else {
                fd.closeQuietly()
                throw BridgeBenchFailure("CONNECT \(port) refused")
            }
            line += byte
        }
        return fd
    }

    private func waitFor(timeout seconds: Double, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            if Date() > deadline { throw BridgeBenchFailure("timed out after \(Int(seconds)) s") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }
}

/// A benchmark step that did not do what it should.
struct BridgeBenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Errors from concurrent workers.
final class BridgeBenchFailures: @unchecked Sendable {
    // Guarded by `lock`.
    private var messages: [String] = []
    private let lock = NSLock()
    func add(_ message: String) { lock.withLock { messages.append(message) } }
    var first: String? { lock.withLock { messages.first } }
}
