// ConfigureInterface: the interface the request names (by MAC or name) ends with the name, MAC, MTU,
// addresses and up/down state it asks for. Everything is checked first — the request on its own, then
// against the network as it is — and only then changed, one netlink request per step in the order the
// kernel needs (down before a rename or a MAC change, secondary IPv4 addresses removed before primaries);
// when a step is refused the steps made are undone (NetworkTransaction).
#if canImport(Glibc)
import Glibc
#endif
import CMnl
import GuestProto

/// Carries out ConfigureInterface requests.
public enum InterfaceConfiguration {
    /// The name an unconfigured interface holding a wanted name is moved to.
    static func asideName(_ index: Int32) -> String { "gkaside\(index)" }

    /// Configures the interface and returns it as it is afterwards.
    public static func configure(_ request: Guestkit_V1_ConfigureInterfaceRequest) throws(NetworkError) -> Guestkit_V1_NetworkInterface {
        let wanted = try WantedInterface(request)
        return try NetworkTransaction.run { transaction throws(NetworkError) in
            let before = try NetworkState.read(transaction.socket)
            let target = try wanted.target(in: before)
            try wanted.apply(to: target, in: before, transaction)
            let after = try NetworkState.read(transaction.socket)
            guard let link = after.link(index: target.index) else {
                throw .failedPrecondition("interface \(target.name) (index \(target.index)) disappeared while it was configured")
            }
            return NetworkListing.interface(link, in: after)
        }
    }
}

/// A ConfigureInterface request, parsed: every field checked on its own.
struct WantedInterface {
    var matchMAC: MACAddress?
    var name: String?
    var mac: MACAddress?
    var mtu: UInt32?
    var addresses: [LinkAddress]
    var up: Bool

    /// The lowest MTU IPv4 allows (RFC 791) and IPv6's (RFC 8200).
    static let minimumIPv4MTU: UInt32 = 68
    static let minimumIPv6MTU: UInt32 = 1280

    init(_ request: Guestkit_V1_ConfigureInterfaceRequest) throws(NetworkError) {
        if !request.matchMac.isEmpty {
            guard let mac = MACAddress(request.matchMac) else {
                throw .invalidArgument("match_mac \"\(request.matchMac)\" is not a MAC address (six hex pairs, 52:54:00:12:34:56)")
            }
            matchMAC = mac
        }
        if !request.name.isEmpty {
            if let problem = InterfaceName.problem(request.name) {
                throw .invalidArgument("interface name \"\(request.name)\" \(problem)")
            }
            name = request.name
        }
        guard matchMAC != nil || name != nil else {
            throw .invalidArgument("neither match_mac nor name says which interface to configure")
        }
        if !request.mac.isEmpty {
            guard let mac = MACAddress(request.mac) else {
                throw .invalidArgument("mac \"\(request.mac)\" is not a MAC address (six hex pairs, 52:54:00:12:34:56)")
            }
            guard !mac.isMulticast, !mac.isZero else {
                throw .invalidArgument("mac \(mac) is a multicast or zero address, which no interface can have as its own")
            }
            self.mac = mac
        }
        addresses = []
        for (position, text) in request.addresses.enumerated() {
            let address = try Self.address(text, position: position)
            if addresses.contains(where: { $0.prefix.address == address.prefix.address }) {
                throw .invalidArgument("addresses[\(position)] \(address.prefix.address) is listed twice")
            }
            addresses.append(address)
        }
        if request.mtu != 0 {
            let lowest = addresses.contains { $0.prefix.family == .v6 } ? Self.minimumIPv6MTU : Self.minimumIPv4MTU
            guard request.mtu >= lowest, request.mtu <= 65535 else {
                throw .invalidArgument("mtu \(request.mtu) is outside \(lowest)...65535"
                                       + (lowest == Self.minimumIPv6MTU ? " (IPv6 needs at least 1280)" : ""))
            }
            mtu = request.mtu
        }
        up = request.up
    }

    static func address(_ text: Guestkit_V1_NetworkAddress, position: Int) throws(NetworkError) -> LinkAddress {
        guard let prefix = IPPrefix(text.cidr) else {
            throw .invalidArgument("addresses[\(position)] \"\(text.cidr)\" is not an address with a prefix length (192.0.2.2/24, 2001:db8::2/64)")
        }
        let address = prefix.address
        guard !address.isUnspecified, !address.isMulticast, !address.isLimitedBroadcast else {
            throw .invalidArgument("addresses[\(position)] \(prefix) is an unspecified, multicast or broadcast address")
        }
        var broadcast: IPAddress?
        if !text.broadcast.isEmpty {
            guard let parsed = IPAddress(text.broadcast), parsed.family == .v4, prefix.family == .v4 else {
                throw .invalidArgument("addresses[\(position)] broadcast \"\(text.broadcast)\" is not an IPv4 address of an IPv4 prefix")
            }
            broadcast = parsed
        }
        let scope: UInt8
        if address.family == .v4 ? address.bytes[0] == 127 : address == IPAddress("::1") {
            scope = UInt8(RT_SCOPE_HOST.rawValue)
        } else if address.isLinkLocal {
            scope = UInt8(RT_SCOPE_LINK.rawValue)
        } else {
            scope = UInt8(RT_SCOPE_UNIVERSE.rawValue)
        }
        // No duplicate address detection for IPv6: the namespace these addresses come from ran it.
        let flags = prefix.family == .v6 ? UInt32(IFA_F_NODAD) : 0
        return LinkAddress(index: 0, prefix: prefix, broadcast: broadcast, scope: scope, flags: flags)
    }

    /// The interface the request names.
    func target(in state: NetworkState) throws(NetworkError) -> NetworkLink {
        if let matchMAC {
            let matches = state.links.filter { $0.hardwareAddress == matchMAC }
            guard let first = matches.first else {
                let known = state.links.map { "\($0.name) \($0.hardwareAddress.map(String.init(describing:)) ?? "-")" }
                throw .failedPrecondition("no interface has MAC \(matchMAC) (there are: \(known.joined(separator: ", ")))")
            }
            guard matches.count == 1 else {
                throw .failedPrecondition("\(matches.count) interfaces have MAC \(matchMAC) (\(matches.map(\.name).joined(separator: ", "))); name the one to configure")
            }
            return first
        }
        guard let name, let link = state.link(named: name) else {
            throw .failedPrecondition("no interface \"\(name ?? "")\" in the guest (there are: \(state.linkNames))")
        }
        return link
    }

    /// Checks the request against the network as it is, then makes each change.
    func apply(to target: NetworkLink, in state: NetworkState, _ transaction: NetworkTransaction) throws(NetworkError) {
        let finalName = name ?? target.name
        let renaming = finalName != target.name
        let changingMAC = mac != nil && mac != target.hardwareAddress
        if target.isLoopback, renaming || changingMAC {
            throw .failedPrecondition("\(target.name) is the loopback interface: its name and MAC cannot change")
        }
        var aside: NetworkLink?
        if renaming, let holder = state.link(named: finalName) {
            let configured = state.addresses(of: holder.index).contains { !$0.prefix.address.isLinkLocal }
            guard !holder.isUp, !configured else {
                throw .failedPrecondition("the name \(finalName) is taken by another interface (index \(holder.index), "
                                          + "\(holder.isUp ? "up" : "with addresses")); rename or remove it first")
            }
            aside = holder
        }
        if let mtu {
            if let lowest = target.minimumMTU, mtu < lowest {
                throw .failedPrecondition("\(target.name) takes an MTU of at least \(lowest); \(mtu) was asked")
            }
            if let highest = target.maximumMTU, highest > 0, mtu > highest {
                throw .failedPrecondition("\(target.name) takes an MTU of at most \(highest); \(mtu) was asked")
            }
        }
        for address in addresses {
            if let other = state.addresses.first(where: { $0.prefix.address == address.prefix.address && $0.index != target.index }) {
                let owner = state.link(index: other.index)?.name ?? "index \(other.index)"
                throw .failedPrecondition("\(address.prefix.address) is already an address of \(owner)")
            }
        }
        let current = state.addresses(of: target.index)
        let removed = current
            .filter { have in !have.prefix.address.isLinkLocal && !addresses.contains { Self.same($0, have) } }
            // Removing a primary IPv4 address takes its secondaries with it: secondaries go first.
            .sorted { ($0.flags & UInt32(IFA_F_SECONDARY)) > ($1.flags & UInt32(IFA_F_SECONDARY)) }
        let added = addresses.filter { want in !current.contains { Self.same(want, $0) } }

        var isUp = target.isUp
        var label = target.name
        if isUp, renaming || changingMAC {
            try transaction.apply(RouteEdit.setLink(index: target.index, label: label, up: false),
                                  inverse: RouteEdit.setLink(index: target.index, label: label, up: true))
            isUp = false
        }
        if let aside {
            let moved = InterfaceConfiguration.asideName(aside.index)
            try transaction.apply(RouteEdit.setLink(index: aside.index, label: aside.name, name: moved),
                                  inverse: RouteEdit.setLink(index: aside.index, label: moved, name: aside.name))
        }
        if renaming {
            try transaction.apply(RouteEdit.setLink(index: target.index, label: label, name: finalName),
                                  inverse: RouteEdit.setLink(index: target.index, label: finalName, name: target.name))
            label = finalName
        }
        if changingMAC, let mac {
            try transaction.apply(RouteEdit.setLink(index: target.index, label: label, mac: mac),
                                  inverse: RouteEdit.setLink(index: target.index, label: label, mac: target.hardwareAddress))
        }
        if let mtu, mtu != target.mtu {
            try transaction.apply(RouteEdit.setLink(index: target.index, label: label, mtu: mtu),
                                  inverse: RouteEdit.setLink(index: target.index, label: label, mtu: target.mtu))
        }
        for address in removed {
            var restored = address
            restored.flags &= Self.flagsKeptOnRestore
            try transaction.apply(RouteEdit.address(address, label: label, add: false),
                                  inverse: RouteEdit.address(restored, label: label, add: true))
        }
        for address in added {
            var address = address
            address.index = target.index
            try transaction.apply(RouteEdit.address(address, label: label, add: true),
                                  inverse: RouteEdit.address(address, label: label, add: false))
        }
        if up != isUp {
            try transaction.apply(RouteEdit.setLink(index: target.index, label: label, up: up),
                                  inverse: RouteEdit.setLink(index: target.index, label: label, up: isUp))
        }
    }

    /// The same address, prefix length and broadcast.
    static func same(_ a: LinkAddress, _ b: LinkAddress) -> Bool {
        a.prefix == b.prefix && (a.prefix.family == .v6 || a.broadcast == b.broadcast)
    }

    /// The flags an address is re-added with: what a caller may set (the kernel sets the rest itself).
    static let flagsKeptOnRestore = UInt32(IFA_F_NODAD | IFA_F_OPTIMISTIC | IFA_F_HOMEADDRESS | IFA_F_MANAGETEMPADDR
                                           | IFA_F_NOPREFIXROUTE | IFA_F_MCAUTOJOIN)
}
