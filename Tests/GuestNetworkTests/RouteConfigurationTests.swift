import GuestNetwork
import GuestProto
import GuestTestSupport
import Testing

/// AddRoutes on a configured interface in a scratch namespace, checked with ip(8).
@Suite struct RouteConfigurationTests {
    /// veth0 with 192.0.2.2/24 and 2001:db8::2/64, up.
    static func configured(_ label: String) throws -> NetworkFixture {
        let fixture = try NetworkFixture(label)
        _ = try fixture.inside { try InterfaceConfiguration.configure(interfaceRequest(name: "veth0", addresses: ["192.0.2.2/24", "2001:db8::2/64"])) }
        return fixture
    }

    @Test func addsDefaultOnLinkAndGatewayRoutes() throws {
        let fixture = try Self.configured("rta")
        try fixture.inside {
            try RouteConfiguration.add(routes([
                route("198.51.100.0/25", dev: "veth0"),
                route("default", via: "192.0.2.1"),
                route("198.51.100.128/25", via: "192.0.2.1", dev: "veth0", source: "192.0.2.2", metric: 7),
                route("::/0", via: "2001:db8::1", dev: "veth0"),
                route("2001:db8:1::/48", via: "fe80::1", dev: "veth0", metric: 5),
            ]))
        }
        let v4 = try fixture.guest.ip("route")
        #expect(v4.contains("default via 192.0.2.1 dev veth0"))
        #expect(v4.contains("198.51.100.0/25 dev veth0 scope link"))
        #expect(v4.contains("198.51.100.128/25 via 192.0.2.1 dev veth0 metric 7 src 192.0.2.2") || v4.contains("198.51.100.128/25 via 192.0.2.1 dev veth0 src 192.0.2.2 metric 7"))
        let v6 = try fixture.guest.ip("-6", "route")
        #expect(v6.contains("default via 2001:db8::1 dev veth0 metric 1024"))
        #expect(v6.contains("2001:db8:1::/48 via fe80::1 dev veth0 metric 5"))
        let listed = try fixture.inside { try NetworkListing.routes() }
        let defaultRoute = try #require(listed.first { $0.destination == "0.0.0.0/0" })
        #expect(defaultRoute.gateway == "192.0.2.1")
        #expect(defaultRoute.interface == "veth0")
        #expect(defaultRoute.protocol == 3)
        #expect(defaultRoute.type == "unicast")
        #expect(listed.contains { $0.destination == "192.0.2.0/24" && $0.scope == "link" && $0.protocol == 2 })
    }

    /// A gateway outside every subnet, reachable only through an on-link route earlier in the same request
    /// (the /32-address pattern of Calico-style CNI plugins), and the same gateway with on_link instead.
    @Test func usesAnOnLinkRouteFromTheSameRequest() throws {
        let fixture = try Self.configured("rtl")
        try fixture.inside {
            try RouteConfiguration.add(routes([route("198.51.100.1/32", dev: "veth0"), route("0.0.0.0/0", via: "198.51.100.1")]))
            try RouteConfiguration.add(routes([route("198.51.100.64/26", via: "198.51.100.99", dev: "veth0", onLink: true)]))
        }
        let v4 = try fixture.guest.ip("route")
        #expect(v4.contains("default via 198.51.100.1 dev veth0"))
        #expect(v4.contains("198.51.100.64/26 via 198.51.100.99 dev veth0 onlink"))
    }

    static let refusals: [(String, [Guestkit_V1_NetworkRoute], String, String)] = [
        ("unreachable gateway", [route("198.51.100.0/24", via: "198.51.100.1", dev: "veth0")], "failed precondition", "198.51.100.1"),
        ("unreachable gateway, no interface", [route("default", via: "203.0.113.1")], "failed precondition", "203.0.113.1"),
        ("unknown interface", [route("198.51.100.0/24", dev: "eth7")], "failed precondition", "eth7"),
        ("gateway that does not parse", [route("198.51.100.0/24", via: "192.0.2.x")], "invalid argument", "192.0.2.x"),
        ("destination that does not parse", [route("198.51.100.0/33", dev: "veth0")], "invalid argument", "198.51.100.0/33"),
        ("host bits set", [route("198.51.100.7/24", dev: "veth0")], "invalid argument", "198.51.100.0/24"),
        ("default without a gateway", [route("default", dev: "veth0")], "invalid argument", "0.0.0.0/0"),
        ("families mixed", [route("198.51.100.0/24", via: "2001:db8::1")], "invalid argument", "2001:db8::1"),
        ("neither gateway nor interface", [route("198.51.100.0/24")], "invalid argument", "neither"),
        ("bad scope", [route("198.51.100.0/24", dev: "veth0", scope: "galaxy")], "invalid argument", "galaxy"),
        ("on_link without gateway", [route("198.51.100.0/24", dev: "veth0", onLink: true)], "invalid argument", "on_link"),
        ("source not of the guest", [route("198.51.100.0/24", via: "192.0.2.1", source: "192.0.2.77")], "failed precondition", "192.0.2.77"),
        ("link-local gateway without interface", [route("::/0", via: "fe80::1")], "failed precondition", "fe80::1"),
        ("route that exists", [route("192.0.2.0/24", dev: "veth0")], "failed precondition", "192.0.2.0/24"),
        ("route twice", [route("198.51.100.0/24", dev: "veth0"), route("198.51.100.0/24", via: "192.0.2.1")], "invalid argument", "routes[1]"),
        ("second route unreachable", [route("198.51.100.0/24", dev: "veth0"), route("default", via: "203.0.113.1", dev: "veth0")],
         "failed precondition", "routes[1]"),
    ]

    @Test(arguments: refusals)
    func refusesWithoutChanging(label: String, list: [Guestkit_V1_NetworkRoute], expected: String, culprit: String) throws {
        let fixture = try Self.configured("rtx")
        let before = try fixture.snapshot()
        let error = fixture.refusal { try RouteConfiguration.add(routes(list)) }
        #expect(kind(error) == expected, "\(label): \(String(describing: error))")
        #expect(error?.description.contains(culprit) == true, "\(label): \(String(describing: error))")
        #expect(try fixture.snapshot() == before, "\(label) changed the network")
    }

    @Test func refusesARouteThroughADownInterface() throws {
        let fixture = try NetworkFixture("rtd")
        _ = try fixture.inside { try InterfaceConfiguration.configure(interfaceRequest(name: "veth0", addresses: ["192.0.2.2/24"], up: false)) }
        let error = fixture.refusal { try RouteConfiguration.add(routes([route("default", via: "192.0.2.1")])) }
        #expect(kind(error) == "failed precondition")
        #expect(error?.description.contains("down") == true)
    }

    /// The first route is added, the kernel refuses the second (a host-scope route cannot have a gateway,
    /// which only the kernel checks): the first is taken back.
    @Test func undoesTheRoutesAddedWhenTheKernelRefusesALaterOne() throws {
        let fixture = try Self.configured("rtu")
        let before = try fixture.snapshot()
        let error = fixture.refusal {
            try RouteConfiguration.add(routes([route("198.51.100.0/25", dev: "veth0"),
                                               route("198.51.100.128/25", via: "192.0.2.1", dev: "veth0", scope: "host")]))
        }
        #expect(kind(error) == "kernel", "\(String(describing: error))")
        #expect(error?.description.contains("routes[1]") == true, "\(String(describing: error))")
        // The extended acknowledgement's text comes through.
        #expect(error?.description.contains("the kernel says \"Route with host scope can not have a gateway\"") == true,
                "\(String(describing: error))")
        #expect(try fixture.snapshot() == before)
    }
}
