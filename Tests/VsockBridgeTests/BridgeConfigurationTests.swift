import Testing
@testable import VsockBridge

@Suite struct BridgeConfigurationTests {
    @Test(arguments: [
        ("/run/vm.vhost", "/run/vm.sock", UInt64(3), nil as String?),
        ("/run/vm.vhost", "/run/vm.sock", 4_294_967_294, nil),
        ("/run/vm.vhost", "/run/vm.sock", 2, "reserved"),
        ("/run/vm.vhost", "/run/vm.sock", 0, "reserved"),
        ("/run/vm.vhost", "/run/vm.sock", 4_294_967_295, "reserved"),
        ("/run/vm.sock", "/run/vm.sock", 3, "different paths"),
        ("/run/" + String(repeating: "v", count: 120), "/run/vm.sock", 3, "--socket path"),
        ("/run/vm.vhost", "/run/" + String(repeating: "u", count: 95), 3, "--uds path"),
    ])
    func validatesBeforeListening(socket: String, uds: String, cid: UInt64, problem: String?) {
        let configuration = BridgeConfiguration(socketPath: socket, udsPath: uds, guestCID: cid)
        do {
            try configuration.validate()
            #expect(problem == nil)
        } catch {
            #expect(problem.map { error.description.contains($0) } == true, "\(error)")
        }
    }
}
