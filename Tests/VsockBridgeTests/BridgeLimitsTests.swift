import Foundation
import GuestSys
import GuestTestSupport
import Testing

/// The bridge process at its descriptor limit: accepting fails with EMFILE, and it must neither spin on
/// the still-readable listener nor stop serving once descriptors come back.
@Suite struct BridgeLimitsTests {
    @Test func runningOutOfDescriptorsPausesAcceptingAndRecovers() throws {
        let scratch = try ScratchDirectory("harden-bridge-emfile")
        let wrapper = scratch.file("bridge-with-32-fds")
        try "#!/bin/sh\nulimit -n 32\nexec \(BuiltProducts.path("guest-vsock-bridge")) \"$@\"\n"
            .write(toFile: wrapper, atomically: true, encoding: .utf8)
        chmod(wrapper, 0o755)
        let bridge = try VsockBridgeProcess(directory: scratch.path, guestCID: 3, executable: wrapper)
        defer { bridge.stop() }

        // Host clients that never send their CONNECT line each hold a descriptor in the bridge.
        var clients: [FileDescriptor] = []
        defer { clients.forEach { $0.closeQuietly() } }
        for _ in 0..<60 { clients.append(try Sockets.connect(.unix(bridge.udsPath))) }
        let deadline = ContinuousClock.now + .seconds(30)
        while !bridge.log.contains("EMFILE"), ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(bridge.log.contains("EMFILE"), "the bridge never ran out of descriptors:\n\(bridge.log)")
        // Held for a second: a paused listener fails about ten accepts; a spinning loop, thousands.
        Thread.sleep(forTimeInterval: 1)
        let failedAccepts = bridge.log.components(separatedBy: "EMFILE").count - 1
        #expect(failedAccepts < 100, "\(failedAccepts) failed accepts: the loop spins")
        #expect(bridge.isRunning)

        // Descriptors come back: the clients still queued are taken, and a new one is served.
        clients.forEach { $0.closeQuietly() }
        clients = []
        let client = try Sockets.connect(.unix(bridge.udsPath))
        defer { client.closeQuietly() }
        try client.writeAll("CONNECT 1024\n")
        #expect(try client.read(upTo: 16).isEmpty)  // no guest yet: closed unanswered
        let served = ContinuousClock.now + .seconds(30)
        while !bridge.log.contains("CONNECT 1024 refused"), ContinuousClock.now < served { Thread.sleep(forTimeInterval: 0.05) }
        #expect(bridge.log.contains("CONNECT 1024 refused: the guest's vsock device is not running"), "\(bridge.log)")
    }
}
