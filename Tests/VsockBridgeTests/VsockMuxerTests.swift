import Foundation
import GuestSys
import GuestTestSupport
import Testing
@testable import VsockBridge

/// The muxer with real Unix sockets on the host side and packets standing in for the guest.
@Suite struct VsockMuxerTests {
    static let cid: UInt64 = 9

    final class Harness {
        let scratch: ScratchDirectory
        let loop: EventLoop
        let muxer: VsockMuxer
        let udsPath: String
        let listener: FileDescriptor

        /// Every log line the muxer wrote.
        let logLines = Locked<[String]>([])

        init(settings: VsockMuxer.Settings = VsockMuxer.Settings(),
             clock: @escaping () -> UInt64 = { Clock.monotonicNanoseconds }) throws {
            scratch = try ScratchDirectory("muxer")
            loop = try EventLoop()
            udsPath = scratch.file("v.sock")
            let lines = logLines
            muxer = VsockMuxer(guestCID: VsockMuxerTests.cid, udsPath: udsPath, settings: settings, loop: loop,
                               log: BridgeLog(level: .info, sink: { line in lines.update { $0.append(line) } }),
                               clock: clock)
            listener = try Sockets.listen(.unix(udsPath))
            try loop.add(listener, .readable) { [muxer, listener] _ in muxer.acceptHostClients(from: listener) }
            muxer.deviceRunning = true
        }

        deinit {
            muxer.closeAll(reason: "test over")
            listener.closeQuietly()
        }

        /// Runs the loop until `condition` holds (bounded).
        func spin(until condition: () -> Bool) {
            let deadline = ContinuousClock.now + .seconds(10)
            while !condition() && ContinuousClock.now < deadline {
                try? loop.runOnce(timeoutMilliseconds: 20)
            }
        }

        /// The muxer's next packet for the guest, if it has one.
        func emitOne() -> (header: VsockHeader, payload: [UInt8])? {
            guard muxer.hasPendingRx else { return nil }
            let buffer = RxBuffer()
            guard let used = muxer.emit(into: buffer.chain) else { return nil }
            return (VsockHeader(UnsafeRawBufferPointer(buffer.storage))!, Array(buffer.storage[VsockHeader.size..<used]))
        }

        /// Everything the muxer has for the guest right now.
        func drainRx() -> [(header: VsockHeader, payload: [UInt8])] {
            var packets: [(VsockHeader, [UInt8])] = []
            while muxer.hasPendingRx {
                let buffer = RxBuffer()
                guard let used = muxer.emit(into: buffer.chain) else { break }
                let header = VsockHeader(UnsafeRawBufferPointer(buffer.storage))!
                packets.append((header, Array(buffer.storage[VsockHeader.size..<used])))
            }
            return packets
        }

        func guest(_ op: VsockOp, from guestPort: UInt32, to hostPort: UInt32, payload: [UInt8] = [], flags: UInt32 = 0,
                   bufAlloc: UInt32 = 65536, fwdCnt: UInt32 = 0) {
            let header = VsockHeader(srcCID: VsockMuxerTests.cid, dstCID: 2, srcPort: guestPort, dstPort: hostPort,
                                     length: UInt32(payload.count), op: op, flags: flags, bufAlloc: bufAlloc, fwdCnt: fwdCnt)
            payload.withUnsafeBytes { muxer.handleGuestPacket(header, payload: [$0]) }
        }
    }

    @Test func guestConnectionsReachTheListenerAtPathUnderscorePort() throws {
        let h = try Harness()
        let hostListener = try Sockets.listen(.unix(h.udsPath + "_6000"), nonBlocking: false)
        defer { hostListener.closeQuietly() }
        h.guest(.request, from: 40000, to: 6000)
        let response = try #require(h.drainRx().first)
        #expect(response.header.op == .response)
        #expect(response.header.srcPort == 6000 && response.header.dstPort == 40000 && response.header.dstCID == Self.cid)
        // Closed below as part of the test, and only there: a second close could hit another test's descriptor.
        let accepted = try #require(try Sockets.accept(hostListener, nonBlocking: false))

        h.guest(.rw, from: 40000, to: 6000, payload: Array("from the guest".utf8))
        #expect(try accepted.read(upTo: 100) == Array("from the guest".utf8))

        try accepted.writeAll("from the host")
        var received: [UInt8] = []
        h.spin { received += h.drainRx().flatMap(\.payload); return received.count >= 13 }
        #expect(received == Array("from the host".utf8))

        // The host closes: the guest hears SHUTDOWN, then its RST ends the connection.
        try accepted.close()
        var ops: [VsockOp] = []
        h.spin { ops += h.drainRx().compactMap(\.header.op); return !ops.isEmpty }
        #expect(ops == [.shutdown])
        h.guest(.rst, from: 40000, to: 6000)
        #expect(h.muxer.connectionCount == 0)
    }

    @Test func guestConnectionsWithoutAListenerAreReset() throws {
        let h = try Harness()
        h.guest(.request, from: 40001, to: 6001)
        let packets = h.drainRx()
        #expect(packets.count == 1)
        #expect(packets.first?.header.op == .rst)
        #expect(packets.first?.header.srcPort == 6001)
        #expect(h.muxer.connectionsRefused == 1)
    }

    /// A burst of refused requests that ends inside one second still gets its count of suppressed lines,
    /// from the deadline the bridge's loop waits for, without another guest packet.
    @Test func suppressedLogLinesAreReportedWhenTheSecondEndsEvenIfTheGuestFallsQuiet() throws {
        let now = Locked<UInt64>(1_000)
        var settings = VsockMuxer.Settings()
        settings.guestLogLinesPerSecond = 3
        let h = try Harness(settings: settings, clock: { now.get() })
        for port in UInt32(0)..<10 { h.guest(.request, from: 41_000 + port, to: 7_000 + port) }
        #expect(h.drainRx().map(\.header.op) == Array(repeating: .rst, count: 10))
        #expect(h.logLines.get().filter { $0.contains("refused") }.count == 3)
        let deadline = try #require(h.muxer.nextDeadline)
        #expect(deadline == 1_000 + 1_000_000_000)

        now.set(deadline - 1)
        h.muxer.expireDeadlines()
        #expect(!h.logLines.get().contains { $0.contains("suppressed") })
        now.set(deadline)
        h.muxer.expireDeadlines()
        #expect(h.logLines.get().filter { $0.contains("7 more log lines about guest packets were suppressed") }.count == 1)
        #expect(h.muxer.nextDeadline == nil)
    }

    @Test func packetsForNoConnectionAreResetButResetsAreNot() throws {
        let h = try Harness()
        h.guest(.rw, from: 1, to: 2, payload: [1, 2, 3])
        h.guest(.creditUpdate, from: 3, to: 4)
        h.guest(.rst, from: 5, to: 6)
        let packets = h.drainRx()
        #expect(packets.map(\.header.op) == [.rst, .rst])
        #expect(packets.map(\.header.dstPort) == [1, 3])
    }

    @Test func packetsFromAnotherCIDAreDropped() throws {
        let h = try Harness()
        let header = VsockHeader(srcCID: 77, dstCID: 2, srcPort: 1, dstPort: 2, op: .request)
        h.muxer.handleGuestPacket(header, payload: [])
        #expect(!h.muxer.hasPendingRx)
    }

    @Test func requestsToAnotherCIDAreResetFromThatCID() throws {
        let h = try Harness()
        let header = VsockHeader(srcCID: Self.cid, dstCID: 77, srcPort: 40_100, dstPort: 20_000, op: .request)
        h.muxer.handleGuestPacket(header, payload: [])
        let reset = try #require(h.drainRx().first?.header)
        // Addressed back exactly, so the guest's connecting socket takes it and fails at once.
        #expect(reset.op == .rst && reset.srcCID == 77 && reset.srcPort == 20_000 && reset.dstCID == Self.cid
                && reset.dstPort == 40_100)
    }

    @Test func hostConnectGetsOKOnceTheGuestAccepts() throws {
        let h = try Harness()
        let client = try Sockets.connect(.unix(h.udsPath))
        defer { client.closeQuietly() }
        try client.writeAll("CONNECT 5000\n")
        var request: VsockHeader?
        h.spin { request = h.drainRx().first?.header; return request != nil }
        let header = try #require(request)
        #expect(header.op == .request && header.dstPort == 5000 && header.dstCID == Self.cid && header.srcCID == 2)
        #expect(header.srcPort == VsockMuxer.firstLocalPort)
        h.guest(.response, from: 5000, to: header.srcPort)
        #expect(try client.read(upTo: 64) == Array("OK \(header.srcPort)\n".utf8))
        // The next connection to the same guest port gets another host port.
        let second = try Sockets.connect(.unix(h.udsPath))
        defer { second.closeQuietly() }
        try second.writeAll("CONNECT 5000\n")
        var next: VsockHeader?
        h.spin { next = h.drainRx().first?.header; return next != nil }
        #expect(next?.srcPort == header.srcPort + 1)
    }

    @Test(arguments: ["CONNECT nope\n", "HELLO\n", String(repeating: "x", count: 100)])
    func badFirstLinesCloseTheClient(line: String) throws {
        let h = try Harness()
        let client = try Sockets.connect(.unix(h.udsPath))
        defer { client.closeQuietly() }
        try client.writeAll(line)
        var closed = false
        try client.setNonBlocking()
        h.spin {
            if let bytes = try? client.read(upTo: 16) { closed = bytes.isEmpty }
            return closed
        }
        #expect(closed)
        #expect(!h.muxer.hasPendingRx)
    }

    @Test func connectBeforeTheGuestRunsIsClosedAtOnce() throws {
        let h = try Harness()
        h.muxer.deviceRunning = false
        let client = try Sockets.connect(.unix(h.udsPath))
        defer { client.closeQuietly() }
        try client.writeAll("CONNECT 5000\n")
        try client.setNonBlocking()
        var closed = false
        h.spin {
            if let bytes = try? client.read(upTo: 16) { closed = bytes.isEmpty }
            return closed
        }
        #expect(closed)
        #expect(h.muxer.connectionsRefused == 1)
    }

    @Test func closeAllGivesEveryHostClientEndOfFile() throws {
        let h = try Harness()
        var clients: [FileDescriptor] = []
        for _ in 0..<3 {
            let client = try Sockets.connect(.unix(h.udsPath))
            try client.writeAll("CONNECT 5000\n")
            clients.append(client)
        }
        var requests: [VsockHeader] = []
        h.spin { requests += h.drainRx().map(\.header); return requests.count == 3 }
        for request in requests { h.guest(.response, from: 5000, to: request.srcPort) }
        for client in clients { #expect(try client.read(upTo: 64).starts(with: Array("OK ".utf8))) }
        h.muxer.closeAll(reason: "device reset")
        for client in clients {
            #expect(try client.read(upTo: 64).isEmpty)
            client.closeQuietly()
        }
        #expect(h.muxer.connectionCount == 0)
    }

    /// Connections take turns for rx buffers: a turn is a burst of at most `burstPackets` packets.
    @Test func connectionsTakeTurnsForRxBuffers() throws {
        let h = try Harness()
        var hostEnds: [FileDescriptor] = []
        for port in [7001, 7002] as [UInt32] {
            let listener = try Sockets.listen(.unix(h.udsPath + "_\(port)"), nonBlocking: false)
            h.guest(.request, from: port + 100, to: port, bufAlloc: 1 << 20)
            hostEnds.append(try #require(try Sockets.accept(listener, nonBlocking: false)))
            listener.closeQuietly()
        }
        defer { hostEnds.forEach { $0.closeQuietly() } }
        _ = h.drainRx()  // the two RESPONSEs
        for fd in hostEnds {
            try fd.setNonBlocking()
            _ = try? fd.writeAll([UInt8](repeating: 1, count: 150_000))
        }
        var order: [UInt32] = []
        h.spin {
            if let packet = h.emitOne() { order.append(packet.header.srcPort) }
            return order.count >= 64
        }
        #expect(order.count == 64)
        // Runs of one connection, in order.
        var runs: [(port: UInt32, length: Int)] = []
        for port in order {
            if runs.last?.port == port { runs[runs.count - 1].length += 1 } else { runs.append((port, 1)) }
        }
        #expect(runs.count >= 4, "\(runs)")
        #expect(runs.allSatisfy { $0.length <= VsockMuxer.burstPackets }, "\(runs)")
        #expect(Set(runs.prefix(2).map(\.port)) == [7001, 7002], "\(runs)")
    }

    // MARK: A hostile guest

    @Test func strayRepliesAreBoundedWhenTheGuestFloodsWithoutReading() throws {
        var settings = VsockMuxer.Settings()
        settings.maximumStrayReplies = 64
        let h = try Harness(settings: settings)
        for port in UInt32(0)..<10_000 { h.guest(.rw, from: 50_000, to: 7_000 + port, payload: [1]) }
        #expect(h.muxer.strayRepliesDropped == 10_000 - 64)
        let replies = h.drainRx()
        #expect(replies.count == 64 && replies.allSatisfy { $0.header.op == .rst })
        // The log says so a few times a second, not ten thousand times.
        #expect(h.logLines.get().count < 100, "\(h.logLines.get().count) log lines")
    }

    @Test func strayRepliesTakeTurnsWithConnections() throws {
        let h = try Harness()
        let hostListener = try Sockets.listen(.unix(h.udsPath + "_6100"), nonBlocking: false)
        defer { hostListener.closeQuietly() }
        h.guest(.request, from: 41000, to: 6100, bufAlloc: 1 << 20)
        #expect(h.drainRx().map(\.header.op) == [.response])
        let accepted = try #require(try Sockets.accept(hostListener, nonBlocking: false))
        defer { accepted.closeQuietly() }
        // The host has plenty for the guest (more than 16 packets), and the guest floods unknown ports meanwhile.
        try accepted.writeAll([UInt8](repeating: 7, count: 120_000))
        h.spin { h.muxer.hasPendingRx }
        for port in UInt32(0)..<200 { h.guest(.rw, from: 50_000, to: 8_000 + port, payload: [1]) }
        var order: [Bool] = []   // true: a stray RST, false: the connection's data
        for _ in 0..<48 {
            guard let packet = h.emitOne() else { break }
            order.append(packet.header.op == .rst && packet.header.srcPort >= 8_000)
        }
        // Bursts of 16 in turn: the connection is never starved by the flood.
        #expect(order.count == 48)
        #expect(order.prefix(16).allSatisfy { $0 } && order.dropFirst(16).prefix(16).allSatisfy { !$0 }
                && order.dropFirst(32).allSatisfy { $0 }, "\(order)")
    }

    @Test func connectionsAreCappedInBothDirections() throws {
        var settings = VsockMuxer.Settings()
        settings.maximumConnections = 2
        let h = try Harness(settings: settings)
        let hostListener = try Sockets.listen(.unix(h.udsPath + "_6200"), nonBlocking: false)
        defer { hostListener.closeQuietly() }
        for port in UInt32(0)..<3 { h.guest(.request, from: 42_000 + port, to: 6200) }
        let answers = h.drainRx().map { "\($0.header.op.map { "\($0)" } ?? "?") \($0.header.dstPort)" }
        #expect(Set(answers) == ["RESPONSE 42000", "RESPONSE 42001", "RST 42002"], "\(answers)")
        #expect(h.muxer.connectionCount == 2 && h.muxer.connectionsRefused == 1)
        #expect(h.logLines.get().contains { $0.contains("2 connections are open (the limit)") })

        // A host client over the limit is closed unanswered.
        let client = try Sockets.connect(.unix(h.udsPath))
        defer { client.closeQuietly() }
        h.spin { h.muxer.connectionsRefused == 2 }
        #expect(h.muxer.connectionsRefused == 2)
        #expect(try client.read(upTo: 16).isEmpty)

        // Once one closes, a new one is taken.
        h.guest(.rst, from: 42_000, to: 6200)
        h.guest(.request, from: 42_010, to: 6200)
        #expect(h.drainRx().map(\.header.op) == [.response])
    }
}

