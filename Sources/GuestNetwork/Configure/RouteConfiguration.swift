// AddRoutes: every route parsed first, then checked in order against the network plus the routes before it
// in the same request (so an on-link route to a gateway can precede the default route through it), then
// added in order; a refusal takes back the routes already added.
//
// A gateway counts as reachable through an interface the way the kernel checks a next hop (fib_check_nh,
// ip6_route_check_nh): an address of that interface or an on-link route through it covers the gateway, the
// gateway is an IPv6 link-local address, or the route says on_link.
#if canImport(Glibc)
import Glibc
#endif
import CMnl
import GuestProto

/// Carries out AddRoutes requests.
public enum RouteConfiguration {
    public static func add(_ request: Guestkit_V1_AddRoutesRequest) throws(NetworkError) {
        var wanted: [WantedRoute] = []
        for (position, route) in request.routes.enumerated() {
            let parsed = try WantedRoute(route, position: position)
            if let twin = wanted.first(where: { $0.sameSlot(as: parsed) }) {
                throw .invalidArgument("\(parsed.label) and \(twin.label) are the same route (destination and metric)")
            }
            wanted.append(parsed)
        }
        try NetworkTransaction.run { transaction throws(NetworkError) in
            let state = try NetworkState.read(transaction.socket)
            var planned: [(RouteEntry, String)] = []
            for route in wanted {
                let entry = try route.entry(in: state, before: planned.map(\.0))
                planned.append((entry, route.label))
            }
            for (entry, label) in planned {
                try transaction.apply(RouteEdit.route(entry, label: label, add: true),
                                      inverse: RouteEdit.route(entry, label: label, add: false))
            }
        }
    }
}

/// One route of an AddRoutes request, parsed.
struct WantedRoute {
    var destination: IPPrefix
    var gateway: IPAddress?
    var interface: String?
    var source: IPAddress?
    var metric: UInt32
    var scope: UInt8
    var onLink: Bool
    var proto: UInt8
    /// "routes[1] 0.0.0.0/0 via 192.0.2.1 dev eth0", for messages.
    var label: String

    /// IP6_RT_PRIO_USER: the metric an IPv6 route added without one gets.
    static let defaultIPv6Metric: UInt32 = 1024

    init(_ route: Guestkit_V1_NetworkRoute, position: Int) throws(NetworkError) {
        var text = "routes[\(position)] \(route.destination)"
        if !route.gateway.isEmpty { text += " via \(route.gateway)" }
        if !route.interface.isEmpty { text += " dev \(route.interface)" }
        label = text
        if !route.gateway.isEmpty {
            guard let gateway = IPAddress(route.gateway) else {
                throw .invalidArgument("\(text): gateway \"\(route.gateway)\" is not an IPv4 or IPv6 address")
            }
            guard !gateway.isUnspecified, !gateway.isMulticast, !gateway.isLimitedBroadcast else {
                throw .invalidArgument("\(text): gateway \(gateway) is an unspecified, multicast or broadcast address")
            }
            self.gateway = gateway
        }
        if route.destination == "default" {
            guard let gateway else {
                throw .invalidArgument("\(text): \"default\" without a gateway has no family; write 0.0.0.0/0 or ::/0")
            }
            destination = IPPrefix(address: IPAddress(bytes: [UInt8](repeating: 0, count: gateway.family.byteCount))!, length: 0)!
        } else {
            guard let prefix = IPPrefix(route.destination) else {
                throw .invalidArgument("\(text): destination \"\(route.destination)\" is not a prefix (198.51.100.0/24, 2001:db8:1::/48, 0.0.0.0/0)")
            }
            guard prefix.isNetwork else {
                throw .invalidArgument("\(text): destination \(prefix) has host bits set (the network is \(prefix.network)/\(prefix.length))")
            }
            destination = prefix
        }
        if let gateway, gateway.family != destination.family {
            throw .invalidArgument("\(text): gateway \(gateway) is \(gateway.family.name), the destination \(destination.family.name)")
        }
        if !route.interface.isEmpty {
            if let problem = InterfaceName.problem(route.interface) {
                throw .invalidArgument("\(text): interface name \"\(route.interface)\" \(problem)")
            }
            interface = route.interface
        }
        guard gateway != nil || interface != nil else {
            throw .invalidArgument("\(text): names neither a gateway nor an interface")
        }
        if !route.source.isEmpty {
            guard let source = IPAddress(route.source), source.family == destination.family else {
                throw .invalidArgument("\(text): source \"\(route.source)\" is not an \(destination.family.name) address")
            }
            self.source = source
        }
        switch route.scope {
        case "": scope = UInt8(gateway == nil ? RT_SCOPE_LINK.rawValue : RT_SCOPE_UNIVERSE.rawValue)
        case "universe", "global": scope = UInt8(RT_SCOPE_UNIVERSE.rawValue)
        case "site": scope = UInt8(RT_SCOPE_SITE.rawValue)
        case "link": scope = UInt8(RT_SCOPE_LINK.rawValue)
        case "host": scope = UInt8(RT_SCOPE_HOST.rawValue)
        default: throw .invalidArgument("\(text): scope \"\(route.scope)\" is none of universe, site, link, host")
        }
        if route.onLink, gateway == nil {
            throw .invalidArgument("\(text): on_link needs a gateway")
        }
        onLink = route.onLink
        guard route.protocol <= 255 else { throw .invalidArgument("\(text): protocol \(route.protocol) is over 255") }
        proto = route.protocol == 0 ? UInt8(RTPROT_BOOT) : UInt8(route.protocol)
        metric = route.metric != 0 ? route.metric : (destination.family == .v6 ? Self.defaultIPv6Metric : 0)
    }

    /// Whether the kernel would file both under one slot (family, destination, metric): the second is EEXIST.
    func sameSlot(as other: WantedRoute) -> Bool { destination == other.destination && metric == other.metric }

    /// The route to add, checked against the network and the routes planned before it.
    func entry(in state: NetworkState, before planned: [RouteEntry]) throws(NetworkError) -> RouteEntry {
        let link: NetworkLink
        if let interface {
            guard let named = state.link(named: interface) else {
                throw .failedPrecondition("\(label): no interface \"\(interface)\" in the guest (there are: \(state.linkNames))")
            }
            link = named
        } else if let gateway, gateway.isLinkLocal {
            throw .failedPrecondition("\(label): gateway \(gateway) is link-local, which every interface reaches; name the interface")
        } else if let gateway, let found = state.links.first(where: { Self.reaches(gateway, through: $0, state, planned) }) {
            link = found
        } else {
            throw .failedPrecondition("\(label): no interface reaches gateway \(gateway.map(String.init(describing:)) ?? "-"): "
                                      + "no address or on-link route covers it; name the interface and set on_link, or add such a route first")
        }
        guard link.isUp else {
            throw .failedPrecondition("\(label): interface \(link.name) is down; configure it up first")
        }
        if let gateway, !onLink, !Self.reaches(gateway, through: link, state, planned) {
            throw .failedPrecondition("\(label): gateway \(gateway) is unreachable through \(link.name): no address or on-link route "
                                      + "of \(link.name) covers it (add such a route first, or set on_link)")
        }
        if let source, !state.addresses.contains(where: { $0.prefix.address == source }) {
            throw .failedPrecondition("\(label): source \(source) is not an address of the guest")
        }
        let existing = state.mainRoutes + planned
        if let clash = existing.first(where: { $0.destination == destination && ($0.priority ?? 0) == metric && $0.isUnicast }) {
            let through = clash.gateway.map { " via \($0)" } ?? ""
            throw .failedPrecondition("\(label): a route to \(destination) with metric \(metric) exists already (\(destination)\(through))")
        }
        return RouteEntry(destination: destination, gateway: gateway, outputIndex: link.index, preferredSource: source,
                          priority: metric == 0 ? nil : metric, table: UInt32(RT_TABLE_MAIN.rawValue), proto: proto,
                          scope: scope, type: UInt8(RTN_UNICAST), flags: onLink ? UInt32(RTNH_F_ONLINK) : 0, hasComplexNextHop: false)
    }

    /// Whether `gateway` is on the link of `link`: covered by one of its addresses or by an on-link route
    /// through it (in the table or planned), or an IPv6 link-local address.
    static func reaches(_ gateway: IPAddress, through link: NetworkLink, _ state: NetworkState, _ planned: [RouteEntry]) -> Bool {
        if gateway.isLinkLocal { return true }
        if state.addresses(of: link.index).contains(where: { $0.prefix.contains(gateway) }) { return true }
        return (state.mainRoutes + planned).contains { route in
            route.gateway == nil && route.outputIndex == link.index && route.isUnicast
                && route.destination.contains(gateway)
        }
    }
}
