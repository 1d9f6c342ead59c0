// The network as the List* RPCs answer it: links with their addresses, the main table's routes and the
// neighbour entries, with flags, scopes and states under ip(8)'s names.
#if canImport(Glibc)
import Glibc
#endif
import CMnl
import GuestProto

/// Builds the List* answers from the network's state.
public enum NetworkListing {
    public static func interfaces() throws(NetworkError) -> [Guestkit_V1_NetworkInterface] {
        let state = try NetworkState.read()
        return state.links.map { interface($0, in: state) }
    }

    public static func routes() throws(NetworkError) -> [Guestkit_V1_NetworkRoute] {
        let state = try NetworkState.read()
        return state.mainRoutes.map { route($0, in: state) }
    }

    public static func neighbors() throws(NetworkError) -> [Guestkit_V1_NetworkNeighbor] {
        let state = try NetworkState.read()
        return state.neighbors.map { entry in
            var neighbor = Guestkit_V1_NetworkNeighbor()
            neighbor.interface = state.link(index: entry.index)?.name ?? "\(entry.index)"
            neighbor.address = entry.address.description
            neighbor.mac = entry.hardwareAddress?.description ?? ""
            neighbor.state = names(of: UInt32(entry.state), in: neighborStates).joined(separator: ",")
            return neighbor
        }
    }

    static func interface(_ link: NetworkLink, in state: NetworkState) -> Guestkit_V1_NetworkInterface {
        var interface = Guestkit_V1_NetworkInterface()
        interface.index = link.index
        interface.name = link.name
        interface.mac = link.hardwareAddress?.description ?? ""
        interface.mtu = link.mtu
        interface.up = link.isUp
        interface.carrier = link.hasCarrier
        interface.kind = link.kind ?? ""
        interface.addresses = state.addresses(of: link.index).map(address)
        return interface
    }

    static func address(_ entry: LinkAddress) -> Guestkit_V1_NetworkAddress {
        var address = Guestkit_V1_NetworkAddress()
        address.cidr = entry.prefix.description
        address.broadcast = entry.broadcast?.description ?? ""
        address.scope = scopeName(entry.scope)
        address.flags = names(of: entry.flags, in: addressFlags)
        return address
    }

    static func route(_ entry: RouteEntry, in state: NetworkState) -> Guestkit_V1_NetworkRoute {
        var route = Guestkit_V1_NetworkRoute()
        route.destination = entry.destination.description
        route.gateway = entry.gateway?.description ?? ""
        route.interface = entry.outputIndex.map { state.link(index: $0)?.name ?? "\($0)" } ?? ""
        route.source = entry.preferredSource?.description ?? ""
        route.metric = entry.priority ?? 0
        route.scope = scopeName(entry.scope)
        route.onLink = entry.isOnLink
        route.protocol = UInt32(entry.proto)
        route.type = routeTypes[Int(entry.type)] ?? "type \(entry.type)"
        return route
    }

    /// A RT_SCOPE_* value by the name ip(8) and AddRoutes use.
    public static func scopeName(_ scope: UInt8) -> String {
        switch UInt32(scope) {
        case RT_SCOPE_UNIVERSE.rawValue: return "global"
        case RT_SCOPE_SITE.rawValue: return "site"
        case RT_SCOPE_LINK.rawValue: return "link"
        case RT_SCOPE_HOST.rawValue: return "host"
        default: return "\(scope)"
        }
    }

    static func names(of bits: UInt32, in table: [(UInt32, String)]) -> [String] {
        table.compactMap { bits & $0.0 != 0 ? $0.1 : nil }
    }

    /// IFA_F_* (<linux/if_addr.h>) under ip(8)'s names.
    static let addressFlags: [(UInt32, String)] = [
        (UInt32(IFA_F_SECONDARY), "secondary"), (UInt32(IFA_F_NODAD), "nodad"), (UInt32(IFA_F_OPTIMISTIC), "optimistic"),
        (UInt32(IFA_F_DADFAILED), "dadfailed"), (UInt32(IFA_F_HOMEADDRESS), "home"), (UInt32(IFA_F_DEPRECATED), "deprecated"),
        (UInt32(IFA_F_TENTATIVE), "tentative"), (UInt32(IFA_F_PERMANENT), "permanent"),
        (UInt32(IFA_F_MANAGETEMPADDR), "mngtmpaddr"), (UInt32(IFA_F_NOPREFIXROUTE), "noprefixroute"),
        (UInt32(IFA_F_MCAUTOJOIN), "autojoin"), (UInt32(IFA_F_STABLE_PRIVACY), "stable-privacy"),
    ]

    /// NUD_* (<linux/neighbour.h>).
    static let neighborStates: [(UInt32, String)] = [
        (UInt32(NUD_INCOMPLETE), "incomplete"), (UInt32(NUD_REACHABLE), "reachable"), (UInt32(NUD_STALE), "stale"),
        (UInt32(NUD_DELAY), "delay"), (UInt32(NUD_PROBE), "probe"), (UInt32(NUD_FAILED), "failed"),
        (UInt32(NUD_NOARP), "noarp"), (UInt32(NUD_PERMANENT), "permanent"),
    ]

    /// RTN_* (<linux/rtnetlink.h>).
    static let routeTypes: [Int: String] = [
        Int(RTN_UNICAST): "unicast", Int(RTN_LOCAL): "local", Int(RTN_BROADCAST): "broadcast", Int(RTN_ANYCAST): "anycast",
        Int(RTN_MULTICAST): "multicast", Int(RTN_BLACKHOLE): "blackhole", Int(RTN_UNREACHABLE): "unreachable",
        Int(RTN_PROHIBIT): "prohibit", Int(RTN_THROW): "throw", Int(RTN_NAT): "nat",
    ]
}
