// The rtnetlink requests that change the network, one builder per kind of change, each with a description
// that names what it does ("RTM_NEWADDR 192.0.2.2/24 dev eth0"), so a refusal says what was refused.
#if canImport(Glibc)
import Glibc
#endif
import CMnl

/// Builds the requests that change links, addresses, routes and neighbours.
enum RouteEdit {
    /// RTM_NEWLINK on an existing interface: any of name, MAC, MTU and the up flag.
    static func setLink(index: Int32, label: String, name: String? = nil, mac: MACAddress? = nil, mtu: UInt32? = nil,
                        up: Bool? = nil) -> NetlinkRequest {
        var info = ifinfomsg()
        info.ifi_family = UInt8(AF_UNSPEC)
        info.ifi_index = index
        var what: [String] = []
        if let up {
            info.ifi_flags = up ? UInt32(IFF_UP) : 0
            info.ifi_change = UInt32(IFF_UP)
            what.append(up ? "up" : "down")
        }
        if let name { what.append("name \(name)") }
        if let mac { what.append("address \(mac)") }
        if let mtu { what.append("mtu \(mtu)") }
        let request = NetlinkRequest(type: Int32(RTM_NEWLINK), fixed: info,
                                     operation: "RTM_NEWLINK dev \(label) \(what.joined(separator: " "))")
        if let name { request.put(Int32(IFLA_IFNAME), string: name) }
        if let mac { request.put(Int32(IFLA_ADDRESS), bytes: mac.bytes) }
        if let mtu { request.put(Int32(IFLA_MTU), u32: mtu) }
        return request
    }

    /// RTM_NEWADDR (add: it must not exist yet) or RTM_DELADDR.
    static func address(_ address: LinkAddress, label: String, add: Bool) -> NetlinkRequest {
        var info = ifaddrmsg()
        info.ifa_family = address.prefix.family.rawValue
        info.ifa_prefixlen = UInt8(address.prefix.length)
        info.ifa_flags = UInt8(truncatingIfNeeded: address.flags)
        info.ifa_scope = address.scope
        info.ifa_index = UInt32(bitPattern: address.index)
        let request = NetlinkRequest(type: Int32(add ? RTM_NEWADDR : RTM_DELADDR), flags: add ? NLM_F_CREATE | NLM_F_EXCL : 0,
                                     fixed: info, operation: "\(add ? "RTM_NEWADDR" : "RTM_DELADDR") \(address.prefix) dev \(label)")
        request.put(Int32(IFA_LOCAL), bytes: address.prefix.address.bytes)
        request.put(Int32(IFA_ADDRESS), bytes: address.prefix.address.bytes)
        if let broadcast = address.broadcast { request.put(Int32(IFA_BROADCAST), bytes: broadcast.bytes) }
        if add { request.put(Int32(IFA_FLAGS), u32: address.flags) }
        return request
    }

    /// RTM_NEWROUTE (add: it must not exist yet) or RTM_DELROUTE, in the main table.
    static func route(_ route: RouteEntry, label: String, add: Bool) -> NetlinkRequest {
        var info = rtmsg()
        info.rtm_family = route.family.rawValue
        info.rtm_dst_len = UInt8(route.destination.length)
        info.rtm_table = UInt8(RT_TABLE_MAIN.rawValue)
        info.rtm_protocol = route.proto
        info.rtm_scope = route.scope
        info.rtm_type = route.type
        info.rtm_flags = route.flags
        let request = NetlinkRequest(type: Int32(add ? RTM_NEWROUTE : RTM_DELROUTE), flags: add ? NLM_F_CREATE | NLM_F_EXCL : 0,
                                     fixed: info, operation: "\(add ? "RTM_NEWROUTE" : "RTM_DELROUTE") \(label)")
        if route.destination.length > 0 { request.put(Int32(RTA_DST.rawValue), bytes: route.destination.address.bytes) }
        if let gateway = route.gateway { request.put(Int32(RTA_GATEWAY.rawValue), bytes: gateway.bytes) }
        if let index = route.outputIndex { request.put(Int32(RTA_OIF.rawValue), u32: UInt32(bitPattern: index)) }
        if let source = route.preferredSource { request.put(Int32(RTA_PREFSRC.rawValue), bytes: source.bytes) }
        if let priority = route.priority { request.put(Int32(RTA_PRIORITY.rawValue), u32: priority) }
        request.put(Int32(RTA_TABLE.rawValue), u32: route.table)
        return request
    }

    /// RTM_NEWNEIGH (created or replaced) or RTM_DELNEIGH.
    static func neighbor(_ neighbor: NeighborEntry, label: String, add: Bool) -> NetlinkRequest {
        var info = ndmsg()
        info.ndm_family = neighbor.address.family.rawValue
        info.ndm_ifindex = neighbor.index
        info.ndm_state = neighbor.state
        let request = NetlinkRequest(type: Int32(add ? RTM_NEWNEIGH : RTM_DELNEIGH), flags: add ? NLM_F_CREATE | NLM_F_REPLACE : 0,
                                     fixed: info, operation: "\(add ? "RTM_NEWNEIGH" : "RTM_DELNEIGH") \(neighbor.address) dev \(label)")
        request.put(Int32(NDA_DST), bytes: neighbor.address.bytes)
        if add, let mac = neighbor.hardwareAddress { request.put(Int32(NDA_LLADDR), bytes: mac.bytes) }
        return request
    }
}
