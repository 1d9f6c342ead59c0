// AddNeighbors: permanent ARP (IPv4) and NDP (IPv6) entries, as a container's namespace may hold them for
// peers that never answer ARP. Each entry is created or replaces the cached one; undoing puts a permanent
// entry it replaced back and deletes the rest.
#if canImport(Glibc)
import Glibc
#endif
import CMnl
import GuestProto

/// Carries out AddNeighbors requests.
public enum NeighborConfiguration {
    public static func add(_ request: Guestkit_V1_AddNeighborsRequest) throws(NetworkError) {
        var wanted: [(interface: String, entry: NeighborEntry, label: String)] = []
        for (position, neighbor) in request.neighbors.enumerated() {
            let label = "neighbors[\(position)] \(neighbor.address) dev \(neighbor.interface)"
            if let problem = InterfaceName.problem(neighbor.interface) {
                throw .invalidArgument("\(label): interface name \"\(neighbor.interface)\" \(problem)")
            }
            guard let address = IPAddress(neighbor.address), !address.isUnspecified, !address.isMulticast else {
                throw .invalidArgument("\(label): \"\(neighbor.address)\" is not a unicast IPv4 or IPv6 address")
            }
            guard let mac = MACAddress(neighbor.mac), !mac.isMulticast, !mac.isZero else {
                throw .invalidArgument("\(label): mac \"\(neighbor.mac)\" is not a unicast MAC address (52:54:00:12:34:56)")
            }
            guard neighbor.state.isEmpty || neighbor.state == "permanent" else {
                throw .invalidArgument("\(label): state \"\(neighbor.state)\": only permanent entries can be added")
            }
            if wanted.contains(where: { $0.interface == neighbor.interface && $0.entry.address == address }) {
                throw .invalidArgument("\(label) is listed twice")
            }
            wanted.append((neighbor.interface, NeighborEntry(index: 0, address: address, hardwareAddress: mac, state: UInt16(NUD_PERMANENT)), label))
        }
        try NetworkTransaction.run { transaction throws(NetworkError) in
            let state = try NetworkState.read(transaction.socket)
            var planned: [(NeighborEntry, NeighborEntry?, String)] = []
            for (interface, entry, label) in wanted {
                guard let link = state.link(named: interface) else {
                    throw .failedPrecondition("\(label): no interface \"\(interface)\" in the guest (there are: \(state.linkNames))")
                }
                var entry = entry
                entry.index = link.index
                let previous = state.neighbors.first { $0.index == link.index && $0.address == entry.address && $0.isPermanent }
                planned.append((entry, previous, "\(label)"))
            }
            for (entry, previous, label) in planned {
                let inverse = previous.map { RouteEdit.neighbor($0, label: label, add: true) }
                    ?? RouteEdit.neighbor(entry, label: label, add: false)
                try transaction.apply(RouteEdit.neighbor(entry, label: label, add: true), inverse: inverse)
            }
        }
    }
}
