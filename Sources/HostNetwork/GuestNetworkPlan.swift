// What of a container's network namespace goes into its VM, and the agent requests that rebuild it in the
// guest. Carried: every Ethernet interface a CNI plugin or a test hands a container (veth, macvlan,
// ipvlan, or a moved physical device), with its MAC, MTU, up state and addresses; the main table's routes
// through those interfaces that the kernel did not make itself (those reappear in the guest with the
// addresses); permanent neighbour entries on them. IPv6 link-local addresses are left to the guest's
// kernel, which derives the same ones from the same MAC. Everything left behind is listed in `notes`.
import GuestNetwork
import GuestProto

/// A namespace's network as the guest must get it.
struct GuestNetworkPlan {
    /// Prefix of the taps made in the namespace, one per carried interface ("gktap0", ...).
    static let tapPrefix = "gktap"
    /// Link kinds whose traffic a tc redirect can carry (nil: a device without a kind, such as a NIC moved in).
    static let carriedKinds: Set<String?> = [nil, "veth", "macvlan", "ipvlan"]

    /// The interfaces to carry, in index order.
    var links: [NetworkLink] = []
    var interfaces: [Guestkit_V1_ConfigureInterfaceRequest] = []
    var routes = Guestkit_V1_AddRoutesRequest()
    var neighbors = Guestkit_V1_AddNeighborsRequest()
    var notes: [String] = []

    init(_ state: NetworkState) throws(TaskNetworkError) {
        if let tap = state.links.first(where: { $0.name.hasPrefix(Self.tapPrefix) && $0.kind == "tun" }) {
            throw .unsupported("the namespace already has \(tap.name): its network is carried into another VM (one VM per namespace)")
        }
        for link in state.links.sorted(by: { $0.index < $1.index }) where !link.isLoopback {
            guard link.isEthernet, Self.carriedKinds.contains(link.kind), let mac = link.hardwareAddress else {
                notes.append("left out \(link.name) (\(link.kind ?? "no kind"), not an Ethernet interface a redirect can carry)")
                continue
            }
            links.append(link)
            var request = Guestkit_V1_ConfigureInterfaceRequest()
            request.matchMac = mac.description
            request.name = link.name
            request.mac = mac.description
            request.mtu = link.mtu
            request.up = link.isUp
            for address in state.addresses(of: link.index) where !address.prefix.address.isLinkLocal {
                var carried = Guestkit_V1_NetworkAddress()
                carried.cidr = address.prefix.description
                carried.broadcast = address.broadcast?.description ?? ""
                request.addresses.append(carried)
            }
            interfaces.append(request)
        }
        let carried = Set(links.map(\.index))
        var onLink: [Guestkit_V1_NetworkRoute] = []
        var viaGateway: [Guestkit_V1_NetworkRoute] = []
        for route in state.mainRoutes {
            guard let index = route.outputIndex, carried.contains(index), let link = state.link(index: index) else { continue }
            guard !route.isKernelMade, !route.destination.address.isMulticast,
                  !(route.destination.address.isLinkLocal && route.gateway == nil) else { continue }
            guard route.isUnicast, !route.hasComplexNextHop else {
                notes.append("left out the route to \(route.destination) on \(link.name) (not a single-next-hop unicast route)")
                continue
            }
            var wanted = Guestkit_V1_NetworkRoute()
            wanted.destination = route.destination.description
            wanted.gateway = route.gateway?.description ?? ""
            wanted.interface = link.name
            wanted.source = route.preferredSource?.description ?? ""
            wanted.metric = route.priority ?? 0
            wanted.scope = NetworkListing.scopeName(route.scope)
            wanted.onLink = route.isOnLink
            wanted.protocol = UInt32(route.proto)
            if route.gateway == nil { onLink.append(wanted) } else { viaGateway.append(wanted) }
        }
        // On-link routes first: a gateway may be reachable only through one of them.
        routes.routes = onLink + viaGateway
        for entry in state.neighbors where carried.contains(entry.index) && entry.isPermanent {
            guard let mac = entry.hardwareAddress, let link = state.link(index: entry.index) else { continue }
            var neighbor = Guestkit_V1_NetworkNeighbor()
            neighbor.interface = link.name
            neighbor.address = entry.address.description
            neighbor.mac = mac.description
            neighbor.state = "permanent"
            neighbors.neighbors.append(neighbor)
        }
    }
}
