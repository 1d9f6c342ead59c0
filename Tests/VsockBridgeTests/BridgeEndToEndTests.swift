// guest-vsock-bridge against a real guest: QEMU (TCG) boots Debian's cloud kernel with the bridge as its
// vhost-user-vsock device, and an initramfs whose /init loads the virtio/vsock modules and runs
// vsock-peer (Fixtures/vsock-peer.c; built by `make bridge-guest`). The host side talks to it only
// through the bridge's hybrid socket.
import Foundation
import GuestSys
import GuestTestSupport
import Testing

/// Where the test guest is: `make test` exports the directories; a plain `swift test` finds them in out/.
enum BridgeGuest {
    static var kernel: String {
        let dir = ProcessInfo.processInfo.environment["GUESTKIT_DEBIAN_KERNEL"]
            ?? BuiltProducts.packageRoot.appendingPathComponent("out/debian-kernel").path
        return dir + "/vmlinuz"
    }
    static var initramfs: String {
        let dir = ProcessInfo.processInfo.environment["GUESTKIT_BRIDGE_GUEST"]
            ?? BuiltProducts.packageRoot.appendingPathComponent("out/bridge").path
        return dir + "/initramfs.cpio.gz"
    }
    /// Run by `make test` (which builds both); skipped, visibly, without them.
    static var available: Bool {
        FileManager.default.fileExists(atPath: kernel) && FileManager.default.fileExists(atPath: initramfs)
            && FileManager.default.fileExists(atPath: BuiltProducts.path("guest-vsock-bridge"))
            && Command.exists("qemu-system-x86_64")
    }

    static let ready = "vsock-peer: ready"
    static let bootTimeout: Duration = .seconds(240)

    static func configuration(bridge: VsockBridgeProcess, name: String) -> QemuMachine.Configuration {
        var config = QemuMachine.Configuration(kernel: kernel, initrd: initramfs)
        config.commandLine = "console=ttyS0 panic=-1 quiet"
        config.name = name
        config.maximumLifetime = .seconds(600)
        config.extraArguments = bridge.qemuArguments
        return config
    }
}

/// Byte helpers for the transfers.
enum Payload {
    /// vsock-peer's pattern: byte i = (i * 131 + (i >> 12)) & 0xff.
    static func pattern(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            for i in 0..<count { buffer[i] = UInt8(truncatingIfNeeded: i &* 131 &+ (i >> 12)) }
            initialized = count
        }
    }

    /// Pseudo-random bytes (xorshift64*), different per seed.
    static func random(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed | 1
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { buffer in
            var i = 0
            while i + 8 <= count {
                state ^= state >> 12; state ^= state << 25; state ^= state >> 27
                buffer.storeBytes(of: state &* 0x2545_F491_4F6C_DD1D, toByteOffset: i, as: UInt64.self)
                i += 8
            }
        }
        return bytes
    }

    /// sha256 via coreutils (fast even in a debug build).
    static func sha256(_ bytes: [UInt8]) throws -> String {
        let result = try Command.run(["sha256sum"], input: Data(bytes))
        return String(result.stdout.prefix(64))
    }

    /// Reads until end of file.
    static func readAll(_ fd: FileDescriptor, limit: Int = 256 << 20) throws -> [UInt8] {
        try fd.readToEnd(limit: limit)
    }

    /// Writes `bytes`, shuts down the sending side, and reads everything that comes back, concurrently.
    static func exchange(_ fd: FileDescriptor, sending bytes: [UInt8]) throws -> [UInt8] {
        let reader = StreamReader(fd)
        try fd.writeAll(bytes)
        try Sockets.shutdown(fd, .write)
        return try reader.bytes()
    }

    /// One line, read byte by byte.
    static func readLine(_ fd: FileDescriptor) throws -> String {
        var line: [UInt8] = []
        while true {
            let byte = try fd.read(upTo: 1)
            guard let b = byte.first, b != UInt8(ascii: "\n") else { break }
            line.append(b)
        }
        return String(decoding: line, as: UTF8.self)
    }
}

@Suite(.serialized)
struct BridgeEndToEndTests {
    init() throws {
        try #require(BridgeGuest.available, "needs out/debian-kernel, out/bridge (make bridge-guest) and qemu-system-x86_64")
    }

    @Test func carriesStreamsBothWaysThroughARealGuest() throws {
        let scratch = try ScratchDirectory("bridge-e2e")
        let bridge = try VsockBridgeProcess(directory: scratch.path, guestCID: 3)
        defer { bridge.stop() }
        do {
            try QemuMachine.with(BridgeGuest.configuration(bridge: bridge, name: "transfers"), in: scratch.path) { vm in
                try vm.waitForConsole(BridgeGuest.ready, timeout: BridgeGuest.bootTimeout)
                try bridge.waitUntilGuestListens(port: 5000)

                // A first connection, and the host port the bridge chose.
                let (ping, hostPort) = try bridge.connect(port: 5000)
                #expect(hostPort >= 1 << 30)
                #expect(try Payload.exchange(ping, sending: Array("ping".utf8)) == Array("ping".utf8))
                ping.closeQuietly()

                // 64 MiB each way through the echo service, checked by sha256.
                let size = 64 << 20
                let sent = Payload.random(size, seed: 64)
                let (echo, _) = try bridge.connect(port: 5000)
                let echoed = try Payload.exchange(echo, sending: sent)
                echo.closeQuietly()
                #expect(echoed.count == size)
                #expect(try Payload.sha256(echoed) == Payload.sha256(sent))

                // 64 MiB host → guest counted by the guest, 64 MiB guest → host generated by it.
                let (sink, _) = try bridge.connect(port: 5001)
                let count = try Payload.exchange(sink, sending: Payload.random(size, seed: 1))
                sink.closeQuietly()
                #expect(String(decoding: count, as: UTF8.self) == "\(size)\n")
                let (source, _) = try bridge.connect(port: 5002)
                let generated = try Payload.exchange(source, sending: Array("\(size)\n".utf8))
                source.closeQuietly()
                #expect(generated.count == size)
                #expect(try Payload.sha256(generated) == Payload.sha256(Payload.pattern(size)))

                // 32 connections at once, each with its own data: all open before any transfer starts, and
                // one thread each (concurrentPerform would run only as many as there are cores).
                var open: [FileDescriptor] = []
                for _ in 0..<32 { open.append(try bridge.connect(port: 5000).fd) }
                #expect(Set(open).count == 32)
                let failures = ConcurrentFailures()
                let group = DispatchGroup()
                for (i, fd) in open.enumerated() {
                    group.enter()
                    Thread.detachNewThread {
                        defer { group.leave() }
                        do {
                            let data = Payload.random(512 << 10, seed: UInt64(i + 100))
                            let back = try Payload.exchange(fd, sending: data)
                            if back != data { failures.add("connection \(i): \(back.count) bytes back, content differs") }
                        } catch {
                            failures.add("connection \(i): \(error)")
                        }
                    }
                }
                group.wait()
                open.forEach { $0.closeQuietly() }
                #expect(failures.all.isEmpty, "\(failures.all)\nbridge log:\n\(bridge.log.suffix(4000))")

                // Guest → host: the guest dials CID 2 port 7000, which lands on <uds>_7000.
                let listener = try Sockets.listen(.unix(bridge.udsPath + "_7000"), nonBlocking: false)
                defer { listener.closeQuietly() }
                let (dial, _) = try bridge.connect(port: 5003)
                try dial.writeAll("7000 1048576\n")
                let arrived = try #require(try Sockets.accept(listener, nonBlocking: false))
                let fromGuest = try Payload.readAll(arrived)
                #expect(try Payload.sha256(fromGuest) == Payload.sha256(Payload.pattern(1 << 20)))
                try arrived.writeAll("thanks")
                try arrived.close()
                #expect(try Payload.readLine(dial) == "OK sent 1048576 received 6")
                dial.closeQuietly()

                // Nothing listening at <uds>_7001: the guest's connect is reset.
                let (refusedDial, _) = try bridge.connect(port: 5003)
                try refusedDial.writeAll("7001 10\n")
                #expect(try Payload.readLine(refusedDial) == "ERR connect: Connection reset by peer")
                refusedDial.closeQuietly()

                // Nothing listening on guest port 6000: the bridge closes the host socket without OK.
                #expect(throws: HybridVsock.Refused.self) { _ = try bridge.connect(port: 6000) }
                // A malformed request ends only that client.
                let bad = try Sockets.connect(.unix(bridge.udsPath))
                try bad.writeAll("CONNECT please\n")
                #expect(try bad.read(upTo: 16).isEmpty)
                bad.closeQuietly()
                let (after, _) = try bridge.connect(port: 5000)
                #expect(try Payload.exchange(after, sending: [42]) == [42])
                after.closeQuietly()
            }
        } catch {
            print("bridge log:\n\(bridge.log)")
            throw error
        }
    }

    /// A hostile guest: vsock-peer's flood service opens thousands of connections to host ports nobody
    /// serves and to a CID that is not the host, while the host moves data on other connections. The
    /// bridge answers every request with RST, stays up, rate-limits its log, and the other connections
    /// complete with every byte (nothing is timed).
    @Test func aFloodingGuestLeavesOtherConnectionsWhole() throws {
        let scratch = try ScratchDirectory("bridge-flood")
        let bridge = try VsockBridgeProcess(directory: scratch.path, guestCID: 7)
        defer { bridge.stop() }
        do {
            try QemuMachine.with(BridgeGuest.configuration(bridge: bridge, name: "flood"), in: scratch.path) { vm in
                try vm.waitForConsole(BridgeGuest.ready, timeout: BridgeGuest.bootTimeout)
                try bridge.waitUntilGuestListens(port: 5000)
                let attempts = 3000
                let flooders = try (0..<2).map { _ in try bridge.connect(port: 5004).fd }
                for flooder in flooders { try flooder.writeAll("\(attempts)\n") }

                let listener = try Sockets.listen(.unix(bridge.udsPath + "_7100"), nonBlocking: false)
                defer { listener.closeQuietly() }
                let failures = ConcurrentFailures()
                let group = DispatchGroup()
                for i in 0..<4 {
                    group.enter()
                    Thread.detachNewThread {
                        defer { group.leave() }
                        do {
                            let data = Payload.random(2 << 20, seed: UInt64(200 + i))
                            let (fd, _) = try bridge.connect(port: 5000)
                            defer { fd.closeQuietly() }
                            let back = try Payload.exchange(fd, sending: data)
                            if back != data { failures.add("echo \(i): \(back.count) bytes back, content differs") }
                        } catch {
                            failures.add("echo \(i): \(error)")
                        }
                    }
                }
                // Guest → host as well: the guest dials <uds>_7100 with 1 MiB.
                let (dial, _) = try bridge.connect(port: 5003)
                try dial.writeAll("7100 1048576\n")
                let arrived = try #require(try Sockets.accept(listener, nonBlocking: false))
                let fromGuest = try Payload.readAll(arrived)
                #expect(try Payload.sha256(fromGuest) == Payload.sha256(Payload.pattern(1 << 20)))
                try arrived.close()
                #expect(try Payload.readLine(dial) == "OK sent 1048576 received 0")
                dial.closeQuietly()
                group.wait()
                #expect(failures.all.isEmpty, "\(failures.all)")

                for flooder in flooders {
                    let line = try Payload.readLine(flooder)
                    flooder.closeQuietly()
                    // Every request was answered with RST: none dropped, none left to time out.
                    #expect(line == "FLOODED \(attempts) reset \(attempts) other 0", "\(line)")
                }
                #expect(bridge.isRunning)
                // The count of suppressed lines is due when the flood's last second ends, with or without
                // another guest packet.
                let reportBy = ContinuousClock.now + .seconds(10)
                while !bridge.log.contains("log lines about guest packets were suppressed") && ContinuousClock.now < reportBy {
                    Thread.sleep(forTimeInterval: 0.1)
                }
                let log = bridge.log
                #expect(log.contains("log lines about guest packets were suppressed"))
                #expect(log.split(separator: "\n").count < 2 * attempts, "the log is rate-limited")
                let (after, _) = try bridge.connect(port: 5000)
                #expect(try Payload.exchange(after, sending: Array("after the flood".utf8)) == Array("after the flood".utf8))
                after.closeQuietly()
            }
        } catch {
            print("bridge log:\n\(bridge.log.suffix(4000))")
            throw error
        }
    }

    @Test func aGuestResetClosesConnectionsAndTheDeviceComesBack() throws {
        let scratch = try ScratchDirectory("bridge-reset")
        let bridge = try VsockBridgeProcess(directory: scratch.path, guestCID: 4)
        defer { bridge.stop() }
        var config = BridgeGuest.configuration(bridge: bridge, name: "reset")
        config.exitOnReboot = false
        try QemuMachine.with(config, in: scratch.path) { vm in
            try vm.waitForConsole(BridgeGuest.ready, timeout: BridgeGuest.bootTimeout)
            try bridge.waitUntilGuestListens(port: 5000)
            let (open, _) = try bridge.connect(port: 5000)
            defer { open.closeQuietly() }
            try open.writeAll("before reset")
            #expect(try open.read(upTo: 64) == Array("before reset".utf8))

            // The machine resets: the driver goes away, QEMU stops the rings, the bridge closes the host side.
            let consoleBefore = vm.console.count
            _ = try vm.monitor("system_reset")
            #expect(try Payload.readAll(open).isEmpty, "the host side should read end of file")

            // The guest boots again on the same QEMU and bridge; new connections work.
            let deadline = ContinuousClock.now + BridgeGuest.bootTimeout
            while !vm.console.dropFirst(consoleBefore).contains(BridgeGuest.ready) {
                try #require(ContinuousClock.now < deadline, "no second boot:\n\(vm.consoleTail())")
                Thread.sleep(forTimeInterval: 0.1)
            }
            try bridge.waitUntilGuestListens(port: 5000)
            let (again, _) = try bridge.connect(port: 5000)
            #expect(try Payload.exchange(again, sending: Array("after reset".utf8)) == Array("after reset".utf8))
            again.closeQuietly()
            #expect(bridge.isRunning)
        }
    }

    /// Also runs the rings without EVENT_IDX and indirect descriptors, the paths the other tests skip.
    @Test func whenQEMUExitsClientsSeeEndOfFileAndTheBridgeExits() throws {
        let scratch = try ScratchDirectory("bridge-exit")
        let bridge = try VsockBridgeProcess(directory: scratch.path, guestCID: 5,
                                            extraArguments: ["--no-event-idx", "--no-indirect"])
        defer { bridge.stop() }
        try QemuMachine.with(BridgeGuest.configuration(bridge: bridge, name: "exit"), in: scratch.path) { vm in
            try vm.waitForConsole(BridgeGuest.ready, timeout: BridgeGuest.bootTimeout)
            try bridge.waitUntilGuestListens(port: 5000)
            let data = Payload.random(4 << 20, seed: 5)
            let (echo, _) = try bridge.connect(port: 5000)
            #expect(try Payload.exchange(echo, sending: data) == data)
            echo.closeQuietly()
            let (open, _) = try bridge.connect(port: 5000)
            defer { open.closeQuietly() }
            vm.stop()
            #expect(try Payload.readAll(open).isEmpty)
            #expect(bridge.waitForExit(timeout: .seconds(30)) == .exited(code: 0), "bridge log:\n\(bridge.log)")
            #expect(!FileManager.default.fileExists(atPath: bridge.udsPath))
            #expect(!FileManager.default.fileExists(atPath: bridge.socketPath))
        }
    }

    @Test func withPersistTheBridgeServesTheNextQEMU() throws {
        let scratch = try ScratchDirectory("bridge-persist")
        let bridge = try VsockBridgeProcess(directory: scratch.path, guestCID: 6, extraArguments: ["--persist"])
        defer { bridge.stop() }
        for round in 1...2 {
            try QemuMachine.with(BridgeGuest.configuration(bridge: bridge, name: "persist-\(round)"), in: scratch.path) { vm in
                try vm.waitForConsole(BridgeGuest.ready, timeout: BridgeGuest.bootTimeout)
                try bridge.waitUntilGuestListens(port: 5000)
                let (fd, _) = try bridge.connect(port: 5000)
                #expect(try Payload.exchange(fd, sending: Array("round \(round)".utf8)) == Array("round \(round)".utf8))
                fd.closeQuietly()
            }
            #expect(bridge.isRunning, "bridge log:\n\(bridge.log)")
        }
        #expect(bridge.stop() == .exited(code: 0))
        #expect(!FileManager.default.fileExists(atPath: bridge.udsPath))
    }
}

/// Failure messages collected from concurrent workers.
final class ConcurrentFailures: @unchecked Sendable {
    // Guarded by `lock`.
    private var messages: [String] = []
    private let lock = NSLock()
    func add(_ message: String) { lock.withLock { messages.append(message) } }
    var all: [String] { lock.withLock { messages } }
}
