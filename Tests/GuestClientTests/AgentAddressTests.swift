import GuestClient
import Testing

@Suite struct AgentAddressTests {
    @Test(arguments: [
        ("vsock://3:1024", AgentAddress.vsock(cid: 3, port: 1024)),
        ("vsock://4294967295:1", .vsock(cid: 0xFFFF_FFFF, port: 1)),
        ("hybrid:///run/fc/v.sock:1024", .hybrid(path: "/run/fc/v.sock", port: 1024)),
        ("hybrid:///tmp/with:colon.sock:52", .hybrid(path: "/tmp/with:colon.sock", port: 52)),
        ("unix:///run/agent.sock", .unix("/run/agent.sock")),
    ])
    func parses(text: String, address: AgentAddress) throws {
        #expect(try AgentAddress(parsing: text) == address)
        #expect(address.description == text)
    }

    @Test(arguments: [
        ("vsock://3", "expected vsock://CID:PORT"),
        ("vsock://x:1024", "\"x\" is not a CID number"),
        ("vsock://3:0", "\"0\" is not a port number"),
        ("vsock://3:99999999999", "is not a port number"),
        ("hybrid://relative.sock:1024", "expected hybrid:///absolute/path"),
        ("hybrid:///v.sock", "expected hybrid:///absolute/path/to/vmm.sock:PORT"),
        ("unix://relative", "expected unix:///absolute/path"),
        ("tcp://1.2.3.4:5", "expected vsock://CID:PORT, hybrid:///PATH:PORT or unix:///PATH"),
        ("", "expected vsock://"),
    ])
    func refusesWithAReason(text: String, reason: String) {
        let error = #expect(throws: GuestClientError.self) { try AgentAddress(parsing: text) }
        #expect(error?.description.contains(reason) == true, "\(String(describing: error))")
        #expect(error?.description.contains("\"\(text)\"") == true)
    }

    @Test(arguments: [
        (ProcessExit(code: 0, signal: 0), Int32(0)),
        (ProcessExit(code: 7, signal: 0), 7),
        (ProcessExit(code: 0, signal: 9), 137),
        (ProcessExit(code: 0, signal: 15), 143),
    ] as [(ProcessExit, Int32)])
    func shellCodeIsTheCodeOr128PlusTheSignal(status: ProcessExit, code: Int32) {
        #expect(status.shellCode == code)
    }
}
