import GuestNetwork
import GuestProto
import GuestTestSupport
import Testing

@Suite struct NeighborConfigurationTests {
    static func neighbor(_ interface: String, _ address: String, _ mac: String, state: String = "") -> Guestkit_V1_NetworkNeighbor {
        var neighbor = Guestkit_V1_NetworkNeighbor()
        neighbor.interface = interface
        neighbor.address = address
        neighbor.mac = mac
        neighbor.state = state
        return neighbor
    }

    static func request(_ list: [Guestkit_V1_NetworkNeighbor]) -> Guestkit_V1_AddNeighborsRequest {
        var request = Guestkit_V1_AddNeighborsRequest()
        request.neighbors = list
        return request
    }

    @Test func addsPermanentARPAndNDPEntries() throws {
        let fixture = try RouteConfigurationTests.configured("nba")
        try fixture.inside {
            try NeighborConfiguration.add(Self.request([Self.neighbor("veth0", "192.0.2.1", "02:00:00:00:cc:01"),
                                                        Self.neighbor("veth0", "2001:db8::1", "02:00:00:00:cc:01", state: "permanent")]))
        }
        let shown = try fixture.guest.ip("neigh", "show", "dev", "veth0")
        #expect(shown.contains("192.0.2.1 lladdr 02:00:00:00:cc:01 PERMANENT"))
        #expect(shown.contains("2001:db8::1 lladdr 02:00:00:00:cc:01 PERMANENT"))
        let listed = try fixture.inside { try NetworkListing.neighbors() }
        #expect(listed.contains { $0.address == "192.0.2.1" && $0.mac == "02:00:00:00:cc:01" && $0.state == "permanent" && $0.interface == "veth0" })
        // Adding it again replaces it.
        try fixture.inside { try NeighborConfiguration.add(Self.request([Self.neighbor("veth0", "192.0.2.1", "02:00:00:00:cc:02")])) }
        #expect(try fixture.guest.ip("neigh", "show", "dev", "veth0").contains("192.0.2.1 lladdr 02:00:00:00:cc:02 PERMANENT"))
    }

    static let refusals: [(String, [Guestkit_V1_NetworkNeighbor], String, String)] = [
        ("unknown interface", [neighbor("eth5", "192.0.2.1", "02:00:00:00:cc:01")], "failed precondition", "eth5"),
        ("second entry's interface unknown", [neighbor("veth0", "192.0.2.1", "02:00:00:00:cc:01"), neighbor("eth5", "192.0.2.3", "02:00:00:00:cc:03")],
         "failed precondition", "eth5"),
        ("address that does not parse", [neighbor("veth0", "192.0.2.", "02:00:00:00:cc:01")], "invalid argument", "192.0.2."),
        ("MAC that does not parse", [neighbor("veth0", "192.0.2.1", "02:00:00:cc:01")], "invalid argument", "02:00:00:cc:01"),
        ("multicast MAC", [neighbor("veth0", "192.0.2.1", "01:00:5e:00:00:01")], "invalid argument", "01:00:5e:00:00:01"),
        ("state other than permanent", [neighbor("veth0", "192.0.2.1", "02:00:00:00:cc:01", state: "reachable")], "invalid argument", "reachable"),
        ("entry twice", [neighbor("veth0", "192.0.2.1", "02:00:00:00:cc:01"), neighbor("veth0", "192.0.2.1", "02:00:00:00:cc:02")],
         "invalid argument", "twice"),
    ]

    @Test(arguments: refusals)
    func refusesWithoutChanging(label: String, list: [Guestkit_V1_NetworkNeighbor], expected: String, culprit: String) throws {
        let fixture = try RouteConfigurationTests.configured("nbx")
        let before = try fixture.snapshot()
        let error = fixture.refusal { try NeighborConfiguration.add(Self.request(list)) }
        #expect(kind(error) == expected, "\(label): \(String(describing: error))")
        #expect(error?.description.contains(culprit) == true, "\(label): \(String(describing: error))")
        #expect(try fixture.snapshot() == before, "\(label) changed the network")
    }
}
