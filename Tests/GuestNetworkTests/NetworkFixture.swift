import Foundation
import GuestNetwork
import GuestProto
import GuestTestSupport
import HostNetwork
import Testing

/// A scratch namespace with a veth pair into a second one acting as the network, for GuestNetwork to
/// change from a thread inside it. IPv6 duplicate address detection is off in both, so an address's flags
/// do not change while a test compares the network before and after a refused request.
final class NetworkFixture: Sendable {
    let guest: ScratchNetworkNamespace
    let peer: ScratchNetworkNamespace

    init(_ label: String) throws {
        guest = try ScratchNetworkNamespace(label)
        peer = try ScratchNetworkNamespace(label + "p")
        for namespace in [guest, peer] {
            try namespace.require(["sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0"])
        }
        try guest.connect("veth0", to: peer, as: "peer0")
    }

    /// Runs `body` on a thread inside the guest namespace.
    func inside<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) throws -> Result {
        try NamespaceThread.run(networkNamespace: guest.path, body)
    }

    /// The network error `body` throws inside the namespace; records an issue when it does not throw one.
    func refusal(_ body: @escaping @Sendable () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) -> NetworkError? {
        do {
            try inside(body)
            Issue.record("expected a refusal, the request succeeded", sourceLocation: sourceLocation)
        } catch let error as NetworkError {
            return error
        } catch {
            Issue.record("expected a NetworkError, got \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    /// Links, addresses, routes of every table and neighbours as ip(8) prints them.
    func snapshot() throws -> String {
        try ["addr", "route show table all", "-6 route show table all", "neigh show"]
            .map { try guest.ip($0.split(separator: " ").map(String.init)) }.joined(separator: "----\n")
    }

    /// The addresses ip(8) lists on an interface, as "ADDRESS/LEN".
    func addresses(_ interface: String) throws -> [String] {
        let links = try guest.json("addr", "show", "dev", interface)
        let infos = (links.first?["addr_info"] as? [[String: Any]]) ?? []
        return infos.compactMap { info in
            guard let local = info["local"] as? String, let length = info["prefixlen"] as? Int else { return nil }
            return "\(local)/\(length)"
        }
    }

    func link(_ interface: String) throws -> [String: Any] {
        try #require(try guest.json("link", "show", "dev", interface).first)
    }
}

/// The kind of a refusal, for `#expect`.
func kind(_ error: NetworkError?) -> String {
    switch error {
    case .invalidArgument?: return "invalid argument"
    case .failedPrecondition?: return "failed precondition"
    case .kernel?: return "kernel"
    case .system?: return "system"
    case .undoFailed?: return "undo failed"
    case nil: return "none"
    }
}

func address(_ cidr: String, broadcast: String = "") -> Guestkit_V1_NetworkAddress {
    var address = Guestkit_V1_NetworkAddress()
    address.cidr = cidr
    address.broadcast = broadcast
    return address
}

func interfaceRequest(name: String = "", matchMAC: String = "", mac: String = "", mtu: UInt32 = 0, addresses: [String] = [],
                      up: Bool = true) -> Guestkit_V1_ConfigureInterfaceRequest {
    var request = Guestkit_V1_ConfigureInterfaceRequest()
    request.name = name
    request.matchMac = matchMAC
    request.mac = mac
    request.mtu = mtu
    request.addresses = addresses.map { address($0) }
    request.up = up
    return request
}

func route(_ destination: String, via gateway: String = "", dev interface: String = "", source: String = "", metric: UInt32 = 0,
           scope: String = "", onLink: Bool = false) -> Guestkit_V1_NetworkRoute {
    var route = Guestkit_V1_NetworkRoute()
    route.destination = destination
    route.gateway = gateway
    route.interface = interface
    route.source = source
    route.metric = metric
    route.scope = scope
    route.onLink = onLink
    return route
}

func routes(_ list: [Guestkit_V1_NetworkRoute]) -> Guestkit_V1_AddRoutesRequest {
    var request = Guestkit_V1_AddRoutesRequest()
    request.routes = list
    return request
}
