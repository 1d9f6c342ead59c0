import Glibc
import GuestSys
import GuestTestSupport
import HostNetwork
import Testing

/// GuestSys's TCP sockets (`SocketAddress.inet`), on loopback inside a scratch network namespace: what the
/// network bench's probes stand on.
@Suite struct TCPSocketTests {
    @Test(arguments: ["127.0.0.1", "::1"])
    func listenConnectAndCarryBytesBothWays(_ address: String) throws {
        let namespace = try ScratchNetworkNamespace("tcp")
        let echoed = try NamespaceThread.run(networkNamespace: namespace.path) { () throws -> [UInt8] in
            let target = try #require(SocketAddress.inet(address, port: 18_000))
            #expect(target.description == (address == "::1" ? "tcp:[::1]:18000" : "tcp:127.0.0.1:18000"))
            let listener = try Sockets.listen(target, nonBlocking: false)
            defer { listener.closeQuietly() }
            let client = try Sockets.connect(target)
            defer { client.closeQuietly() }
            let server = try #require(try Sockets.accept(listener, nonBlocking: false))
            defer { server.closeQuietly() }
            try Sockets.sendAll(client, Array("over tcp".utf8))
            try Sockets.shutdown(client, .write)
            var received: [UInt8] = []
            while case let piece = try server.read(upTo: 64), !piece.isEmpty { received += piece }
            try Sockets.sendAll(server, received.reversed())
            try Sockets.shutdown(server, .write)
            var back: [UInt8] = []
            while case let piece = try client.read(upTo: 64), !piece.isEmpty { back += piece }
            return back
        }
        #expect(echoed == Array("pct revo".utf8))
    }

    @Test func aPortNobodyListensOnIsRefusedByName() throws {
        let namespace = try ScratchNetworkNamespace("tcp-refused")
        let target = try #require(SocketAddress.inet("127.0.0.1", port: 18_001))
        let error = try NamespaceThread.run(networkNamespace: namespace.path) { () throws -> SysError? in
            do throws(SysError) {
                try Sockets.connect(target).closeQuietly()
                return nil
            } catch { return error }
        }
        let refused = try #require(error)
        #expect(refused.code == ECONNREFUSED)
        #expect("\(refused)".contains("tcp:127.0.0.1:18001"))
    }

    @Test func onlyAddressesOfFourOrSixteenBytesAreTaken() {
        #expect(SocketAddress.inet("192.0.2.300", port: 1) == nil)
        #expect(SocketAddress.inet("2001:db8::1", port: 1) == .inet(address: [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1], port: 1))
        #expect(throws: SysError.self) { _ = try Sockets.connect(.inet(address: [192, 0, 2], port: 1)) }
    }
}
