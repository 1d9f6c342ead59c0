import GuestSys
import Testing

@Suite struct PollerTests {
    @Test func reportsReadablePipeAndEventCounter() throws {
        let poller = try Poller()
        let pipe = try Pipe(nonBlocking: true)
        let counter = try EventCounter()
        try poller.add(pipe.readEnd, .readable)
        try poller.add(counter.fd, .readable)
        #expect(try poller.wait(timeoutMilliseconds: 0).isEmpty)
        try pipe.writeEnd.writeAll("x")
        try counter.signal(3)
        let ready = Set(try poller.wait(timeoutMilliseconds: 100).map(\.fd))
        #expect(ready == [pipe.readEnd, counter.fd])
        #expect(try counter.drain() == 3)
        #expect(try counter.drain() == 0)
    }

    @Test func descriptorsTravelOverUnixSockets() throws {
        let (a, b) = try Sockets.pair()
        let pipe = try Pipe()
        #expect(try Sockets.send(a, [1, 2, 3], descriptors: [pipe.writeEnd]) == 3)
        var buffer = [UInt8](repeating: 0, count: 8)
        let (count, fds) = try buffer.withUnsafeMutableBytes { try Sockets.receive(b, into: $0) }
        #expect(count == 3)
        #expect(fds.count == 1)
        try fds[0].writeAll("via passed fd")
        try fds[0].close()
        try pipe.writeEnd.close()
        #expect(String(decoding: try pipe.readEnd.readToEnd(), as: UTF8.self) == "via passed fd")
    }
}
