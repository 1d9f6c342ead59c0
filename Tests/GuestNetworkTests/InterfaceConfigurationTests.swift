import GuestNetwork
import GuestProto
import GuestTestSupport
import Testing

/// ConfigureInterface on real interfaces in scratch namespaces, checked with ip(8).
@Suite struct InterfaceConfigurationTests {
    @Test func configuresNameMACMTUAddressesAndUp() throws {
        let fixture = try NetworkFixture("ifc")
        let mac = "02:00:00:00:aa:01"
        let answer = try fixture.inside {
            try InterfaceConfiguration.configure(interfaceRequest(name: "eth0", matchMAC: try currentMAC("veth0"), mac: mac, mtu: 1400,
                                                                  addresses: ["192.0.2.2/24", "2001:db8::2/64"]))
        }
        let link = try fixture.link("eth0")
        #expect(link["address"] as? String == mac)
        #expect(link["mtu"] as? Int == 1400)
        #expect((link["flags"] as? [String])?.contains("UP") == true)
        #expect(Set(try fixture.addresses("eth0")).isSuperset(of: ["192.0.2.2/24", "2001:db8::2/64"]))
        #expect(answer.name == "eth0")
        #expect(answer.mac == mac)
        #expect(answer.mtu == 1400)
        #expect(answer.up)
        let cidrs = answer.addresses.map(\.cidr)
        #expect(cidrs.contains("192.0.2.2/24") && cidrs.contains("2001:db8::2/64"))
        #expect(answer.addresses.first { $0.cidr == "2001:db8::2/64" }?.flags.contains("nodad") == true)
        // The kernel's own route for the new subnet is there: the address really is on the interface.
        #expect(try fixture.guest.ip("route").contains("192.0.2.0/24 dev eth0 proto kernel"))
    }

    @Test func replacesTheAddressesItWasGivenAndKeepsLinkLocal() throws {
        let fixture = try NetworkFixture("ifr")
        try fixture.inside {
            _ = try InterfaceConfiguration.configure(interfaceRequest(name: "veth0", addresses: ["192.0.2.2/24", "192.0.2.3/24", "2001:db8::2/64"]))
            _ = try InterfaceConfiguration.configure(interfaceRequest(name: "veth0", addresses: ["198.51.100.2/24", "2001:db8::2/64"]))
        }
        let now = try fixture.addresses("veth0")
        #expect(now.contains("198.51.100.2/24"))
        #expect(now.contains("2001:db8::2/64"))
        #expect(!now.contains("192.0.2.2/24") && !now.contains("192.0.2.3/24"))
        #expect(now.contains { $0.hasPrefix("fe80:") })
    }

    @Test func bringsDown() throws {
        let fixture = try NetworkFixture("ifd")
        _ = try fixture.inside { try InterfaceConfiguration.configure(interfaceRequest(name: "veth0", up: false)) }
        #expect((try fixture.link("veth0")["flags"] as? [String])?.contains("UP") == false)
    }

    /// Requests that are refused before anything changes: what kind of refusal, and a word it must name.
    static let refusals: [(String, Guestkit_V1_ConfigureInterfaceRequest, String, String)] = [
        ("unknown interface", interfaceRequest(name: "eth9", addresses: ["192.0.2.2/24"]), "failed precondition", "eth9"),
        ("unknown MAC", interfaceRequest(matchMAC: "02:00:00:00:00:99"), "failed precondition", "02:00:00:00:00:99"),
        ("address that does not parse", interfaceRequest(name: "veth0", addresses: ["192.0.2.2/24", "192.0.2.300/24"]), "invalid argument", "192.0.2.300/24"),
        ("address without a valid prefix", interfaceRequest(name: "veth0", addresses: ["2001:db8::2/129"]), "invalid argument", "2001:db8::2/129"),
        ("multicast address", interfaceRequest(name: "veth0", addresses: ["224.0.0.1/24"]), "invalid argument", "224.0.0.1"),
        ("address twice", interfaceRequest(name: "veth0", addresses: ["192.0.2.2/24", "192.0.2.2/25"]), "invalid argument", "twice"),
        ("bad MAC", interfaceRequest(name: "veth0", mac: "02:00:00:00:00"), "invalid argument", "02:00:00:00:00"),
        ("multicast MAC", interfaceRequest(name: "veth0", mac: "01:00:00:00:00:01"), "invalid argument", "01:00:00:00:00:01"),
        ("bad match MAC", interfaceRequest(matchMAC: "zz"), "invalid argument", "zz"),
        ("MTU too small", interfaceRequest(name: "veth0", mtu: 40), "invalid argument", "40"),
        ("MTU too small for IPv6", interfaceRequest(name: "veth0", mtu: 1200, addresses: ["2001:db8::2/64"]), "invalid argument", "1280"),
        ("name too long", interfaceRequest(name: "a234567890123456"), "invalid argument", "a234567890123456"),
        ("nothing named", interfaceRequest(), "invalid argument", "which interface"),
        ("renaming lo", interfaceRequest(name: "lo0", matchMAC: "00:00:00:00:00:00"), "failed precondition", "loopback"),
        ("broadcast of IPv6", { var r = interfaceRequest(name: "veth0"); r.addresses = [address("2001:db8::2/64", broadcast: "2001:db8::ff")]; return r }(),
         "invalid argument", "2001:db8::ff"),
    ]

    @Test(arguments: refusals)
    func refusesWithoutChanging(label: String, request: Guestkit_V1_ConfigureInterfaceRequest, expected: String, culprit: String) throws {
        let fixture = try NetworkFixture("ifx")
        _ = try fixture.inside { try InterfaceConfiguration.configure(interfaceRequest(name: "veth0", addresses: ["198.51.100.2/24"])) }
        let before = try fixture.snapshot()
        let error = fixture.refusal { _ = try InterfaceConfiguration.configure(request) }
        #expect(kind(error) == expected, "\(label): \(String(describing: error))")
        #expect(error?.description.contains(culprit) == true, "\(label): \(String(describing: error))")
        #expect(try fixture.snapshot() == before, "\(label) changed the network")
    }

    @Test func refusesAnAddressAnotherInterfaceHas() throws {
        let fixture = try NetworkFixture("ifo")
        try fixture.guest.ip("link", "add", "other0", "type", "veth", "peer", "name", "other1")
        try fixture.guest.ip("addr", "add", "192.0.2.9/24", "dev", "other0")
        let before = try fixture.snapshot()
        let error = fixture.refusal { _ = try InterfaceConfiguration.configure(interfaceRequest(name: "veth0", addresses: ["192.0.2.9/24"])) }
        #expect(kind(error) == "failed precondition")
        #expect(error?.description.contains("other0") == true)
        #expect(try fixture.snapshot() == before)
    }

    @Test func refusesANameAConfiguredInterfaceHolds() throws {
        let fixture = try NetworkFixture("ifn")
        try fixture.guest.ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
        try fixture.guest.ip("link", "set", "eth0", "up")
        let before = try fixture.snapshot()
        let error = fixture.refusal { _ = try InterfaceConfiguration.configure(interfaceRequest(name: "eth0", matchMAC: try currentMAC("veth0"))) }
        #expect(kind(error) == "failed precondition")
        #expect(error?.description.contains("eth0") == true)
        #expect(try fixture.snapshot() == before)
    }

    @Test func movesAnUnconfiguredInterfaceOutOfTheWay() throws {
        let fixture = try NetworkFixture("ifa")
        try fixture.guest.ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
        let index = try #require(try fixture.link("eth0")["ifindex"] as? Int)
        _ = try fixture.inside {
            try InterfaceConfiguration.configure(interfaceRequest(name: "eth0", matchMAC: try currentMAC("veth0"), addresses: ["192.0.2.2/24"]))
        }
        #expect(try fixture.addresses("eth0").contains("192.0.2.2/24"))
        #expect(try fixture.link("eth0")["ifindex"] as? Int != index)
        #expect(try fixture.link("gkaside\(index)")["ifindex"] as? Int == index)
    }

    /// The kernel refuses the IPv6 address (IPv6 is off on the interface) after the rename, the MTU and the
    /// IPv4 address were made: all of them are undone.
    @Test func undoesEveryStepWhenTheKernelRefusesOneHalfWay() throws {
        let fixture = try NetworkFixture("ifu")
        try fixture.guest.require(["sysctl", "-q", "-w", "net.ipv6.conf.veth0.disable_ipv6=1"])
        _ = try fixture.inside { try InterfaceConfiguration.configure(interfaceRequest(name: "veth0", mtu: 1500, addresses: ["198.51.100.2/24"])) }
        let before = try fixture.snapshot()
        let error = fixture.refusal {
            _ = try InterfaceConfiguration.configure(interfaceRequest(name: "eth0", matchMAC: try currentMAC("veth0"), mac: "02:00:00:00:bb:01",
                                                                      mtu: 1400, addresses: ["192.0.2.2/24", "2001:db8::2/64"]))
        }
        #expect(kind(error) == "kernel", "\(String(describing: error))")
        #expect(error?.description.contains("2001:db8::2/64") == true, "\(String(describing: error))")
        #expect(try fixture.snapshot() == before)
    }
}

/// The MAC of an interface in the calling thread's namespace.
func currentMAC(_ name: String) throws -> String {
    guard let mac = try NetworkState.read().link(named: name)?.hardwareAddress else { throw ScratchNetworkError("\(name) has no MAC") }
    return mac.description
}
