// The network as the kernel reports it: links (RTM_GETLINK), their addresses (RTM_GETADDR), routes
// (RTM_GETROUTE, IPv4 and IPv6) and neighbours (RTM_GETNEIGH), decoded from netlink dumps into plain
// values. The guest reads it to check a request before changing anything and to list what is there; the
// host reads a container's namespace with it to know what to carry into the guest.
#if canImport(Glibc)
import Glibc
#endif
import CMnl

/// One network interface (RTM_NEWLINK).
public struct NetworkLink: Sendable, Equatable {
    public var index: Int32
    public var name: String
    /// IFLA_ADDRESS when it is an Ethernet address.
    public var hardwareAddress: MACAddress?
    public var mtu: UInt32
    public var minimumMTU: UInt32?
    public var maximumMTU: UInt32?
    /// IFF_* flags.
    public var flags: UInt32
    /// ARPHRD_* link type.
    public var type: UInt16
    /// The link kind (IFLA_INFO_KIND: "veth", "tun", "bridge", …); nil for a physical device such as virtio-net.
    public var kind: String?

    public var isUp: Bool { flags & UInt32(IFF_UP) != 0 }
    public var hasCarrier: Bool { flags & UInt32(GK_IFF_LOWER_UP) != 0 }
    public var isLoopback: Bool { flags & UInt32(IFF_LOOPBACK) != 0 }
    public var isEthernet: Bool { type == UInt16(ARPHRD_ETHER) }
}

/// One address of an interface (RTM_NEWADDR).
public struct LinkAddress: Sendable, Equatable {
    public var index: Int32
    /// The address with its prefix length ("192.0.2.2/24").
    public var prefix: IPPrefix
    public var broadcast: IPAddress?
    /// RT_SCOPE_* (0 universe/global, 253 link, 254 host).
    public var scope: UInt8
    /// IFA_F_* flags (IFA_FLAGS, which holds all 32 bits).
    public var flags: UInt32
}

/// One route (RTM_NEWROUTE).
public struct RouteEntry: Sendable, Equatable {
    public var destination: IPPrefix
    public var gateway: IPAddress?
    public var outputIndex: Int32?
    public var preferredSource: IPAddress?
    /// RTA_PRIORITY, the metric; nil when absent (0).
    public var priority: UInt32?
    public var table: UInt32
    /// RTPROT_* (2 kernel, 3 boot, 4 static…).
    public var proto: UInt8
    public var scope: UInt8
    /// RTN_* (1 unicast, 2 local…).
    public var type: UInt8
    /// RTNH_F_* flags of the route (RTNH_F_ONLINK).
    public var flags: UInt32
    /// Several next hops (RTA_MULTIPATH) or one in another family (RTA_VIA): neither is carried into a guest.
    public var hasComplexNextHop: Bool

    public var family: IPAddress.Family { destination.family }
    public var isOnLink: Bool { flags & UInt32(RTNH_F_ONLINK) != 0 }
    public var isUnicast: Bool { type == UInt8(RTN_UNICAST) }
    /// Made by the kernel for an address (RTPROT_KERNEL): it comes back with the address.
    public var isKernelMade: Bool { proto == UInt8(RTPROT_KERNEL) }
}

/// One neighbour-table entry (RTM_NEWNEIGH): an IPv4 ARP or IPv6 NDP entry.
public struct NeighborEntry: Sendable, Equatable {
    public var index: Int32
    public var address: IPAddress
    public var hardwareAddress: MACAddress?
    /// NUD_* state bits.
    public var state: UInt16
    public var isPermanent: Bool { state & UInt16(NUD_PERMANENT) != 0 }
}

/// Everything read from the kernel at one moment.
public struct NetworkState: Sendable {
    public var links: [NetworkLink]
    public var addresses: [LinkAddress]
    public var routes: [RouteEntry]
    public var neighbors: [NeighborEntry]

    /// Reads the calling thread's network namespace.
    public static func read() throws(NetworkError) -> NetworkState {
        let socket = try RouteSocket()
        return try read(socket)
    }

    static func read(_ socket: RouteSocket) throws(NetworkError) -> NetworkState {
        NetworkState(links: try RouteDump.links(socket), addresses: try RouteDump.addresses(socket),
                     routes: try RouteDump.routes(socket), neighbors: try RouteDump.neighbors(socket))
    }

    public func link(named name: String) -> NetworkLink? { links.first { $0.name == name } }
    public func link(index: Int32) -> NetworkLink? { links.first { $0.index == index } }
    public func addresses(of index: Int32) -> [LinkAddress] { addresses.filter { $0.index == index } }
    /// Routes of the main table.
    public var mainRoutes: [RouteEntry] { routes.filter { $0.table == UInt32(RT_TABLE_MAIN.rawValue) } }

    /// "lo, eth0" for messages that say what there is.
    public var linkNames: String { links.map(\.name).joined(separator: ", ") }
}

/// The four dumps and their decoding.
enum RouteDump {
    static func links(_ socket: RouteSocket) throws(NetworkError) -> [NetworkLink] {
        let request = NetlinkRequest(type: Int32(RTM_GETLINK), fixed: ifinfomsg(), operation: "RTM_GETLINK (dump)")
        return try socket.dump(request).compactMap(link)
    }

    static func addresses(_ socket: RouteSocket) throws(NetworkError) -> [LinkAddress] {
        let request = NetlinkRequest(type: Int32(RTM_GETADDR), fixed: ifaddrmsg(), operation: "RTM_GETADDR (dump)")
        return try socket.dump(request).compactMap(address)
    }

    static func routes(_ socket: RouteSocket) throws(NetworkError) -> [RouteEntry] {
        var routes: [RouteEntry] = []
        for family in [IPAddress.Family.v4, .v6] {
            var fixed = rtmsg()
            fixed.rtm_family = family.rawValue
            let request = NetlinkRequest(type: Int32(RTM_GETROUTE), fixed: fixed, operation: "RTM_GETROUTE \(family.name) (dump)")
            routes += try socket.dump(request).compactMap(route)
        }
        return routes
    }

    static func neighbors(_ socket: RouteSocket) throws(NetworkError) -> [NeighborEntry] {
        let request = NetlinkRequest(type: Int32(RTM_GETNEIGH), fixed: ndmsg(), operation: "RTM_GETNEIGH (dump)")
        return try socket.dump(request).compactMap(neighbor)
    }

    static func link(_ message: NetlinkMessage) -> NetworkLink? {
        guard message.type == UInt16(RTM_NEWLINK), let info = message.fixed(ifinfomsg.self) else { return nil }
        let attributes = message.attributes(after: MemoryLayout<ifinfomsg>.size)
        guard let name = attributes.string(Int32(IFLA_IFNAME)) else { return nil }
        return NetworkLink(index: info.ifi_index, name: name,
                           hardwareAddress: attributes.bytes(Int32(IFLA_ADDRESS)).flatMap { MACAddress(bytes: $0) },
                           mtu: attributes.u32(Int32(IFLA_MTU)) ?? 0,
                           minimumMTU: attributes.u32(Int32(IFLA_MIN_MTU)), maximumMTU: attributes.u32(Int32(IFLA_MAX_MTU)),
                           flags: info.ifi_flags, type: info.ifi_type,
                           kind: attributes.nested(Int32(IFLA_LINKINFO))?.string(Int32(IFLA_INFO_KIND)))
    }

    static func address(_ message: NetlinkMessage) -> LinkAddress? {
        guard message.type == UInt16(RTM_NEWADDR), let info = message.fixed(ifaddrmsg.self) else { return nil }
        let attributes = message.attributes(after: MemoryLayout<ifaddrmsg>.size)
        // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point links (and the
        // only one IPv6 sends otherwise).
        guard let bytes = attributes.bytes(Int32(IFA_LOCAL)) ?? attributes.bytes(Int32(IFA_ADDRESS)),
              let address = IPAddress(bytes: bytes), address.family.rawValue == info.ifa_family,
              let prefix = IPPrefix(address: address, length: Int(info.ifa_prefixlen)) else { return nil }
        return LinkAddress(index: Int32(bitPattern: info.ifa_index), prefix: prefix,
                           broadcast: attributes.bytes(Int32(IFA_BROADCAST)).flatMap { IPAddress(bytes: $0) },
                           scope: info.ifa_scope, flags: attributes.u32(Int32(IFA_FLAGS)) ?? UInt32(info.ifa_flags))
    }

    static func route(_ message: NetlinkMessage) -> RouteEntry? {
        guard message.type == UInt16(RTM_NEWROUTE), let info = message.fixed(rtmsg.self),
              let family = IPAddress.Family(rawValue: info.rtm_family) else { return nil }
        let attributes = message.attributes(after: MemoryLayout<rtmsg>.size)
        let destinationBytes = attributes.bytes(Int32(RTA_DST.rawValue)) ?? [UInt8](repeating: 0, count: family.byteCount)
        guard let destinationAddress = IPAddress(bytes: destinationBytes), destinationAddress.family == family,
              let destination = IPPrefix(address: destinationAddress, length: Int(info.rtm_dst_len)) else { return nil }
        let gateway = attributes.bytes(Int32(RTA_GATEWAY.rawValue)).flatMap { IPAddress(bytes: $0) }
        return RouteEntry(destination: destination, gateway: gateway,
                          outputIndex: attributes.u32(Int32(RTA_OIF.rawValue)).map { Int32(bitPattern: $0) },
                          preferredSource: attributes.bytes(Int32(RTA_PREFSRC.rawValue)).flatMap { IPAddress(bytes: $0) },
                          priority: attributes.u32(Int32(RTA_PRIORITY.rawValue)),
                          table: attributes.u32(Int32(RTA_TABLE.rawValue)) ?? UInt32(info.rtm_table),
                          proto: info.rtm_protocol, scope: info.rtm_scope, type: info.rtm_type, flags: info.rtm_flags,
                          hasComplexNextHop: attributes.has(Int32(RTA_MULTIPATH.rawValue)) || attributes.has(Int32(RTA_VIA.rawValue)))
    }

    static func neighbor(_ message: NetlinkMessage) -> NeighborEntry? {
        guard message.type == UInt16(RTM_NEWNEIGH), let info = message.fixed(ndmsg.self),
              IPAddress.Family(rawValue: info.ndm_family) != nil else { return nil }
        let attributes = message.attributes(after: MemoryLayout<ndmsg>.size)
        guard let address = attributes.bytes(Int32(NDA_DST)).flatMap({ IPAddress(bytes: $0) }) else { return nil }
        return NeighborEntry(index: info.ndm_ifindex, address: address,
                             hardwareAddress: attributes.bytes(Int32(NDA_LLADDR)).flatMap { MACAddress(bytes: $0) },
                             state: info.ndm_state)
    }
}
