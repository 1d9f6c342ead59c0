import Foundation
import GuestLaunch
import GuestProto
import GuestSys
import GuestTestSupport
import HostNetwork
import Testing

/// TaskNetwork on a container namespace as CNI leaves it: a veth with addresses, routes and a permanent
/// neighbour, paired with a peer namespace acting as the network.
@Suite struct TaskNetworkTests {
    final class Container: Sendable {
        let namespace: ScratchNetworkNamespace
        let peer: ScratchNetworkNamespace

        init(_ label: String) throws {
            namespace = try ScratchNetworkNamespace(label)
            peer = try ScratchNetworkNamespace(label + "p")
            try namespace.connect("eth0", to: peer, as: "peer0")
            try namespace.ip("link", "set", "eth0", "mtu", "1450", "address", "02:00:00:00:00:02")
            try peer.ip("link", "set", "peer0", "mtu", "1450")
            try namespace.ip("addr", "add", "192.0.2.2/24", "brd", "192.0.2.255", "dev", "eth0")
            try namespace.ip("addr", "add", "2001:db8::2/64", "dev", "eth0", "nodad")
            try peer.ip("addr", "add", "192.0.2.1/24", "dev", "peer0")
            try peer.ip("addr", "add", "2001:db8::1/64", "dev", "peer0", "nodad")
            try namespace.ip("route", "add", "198.51.100.0/24", "dev", "eth0")
            try namespace.ip("route", "add", "default", "via", "192.0.2.1")
            try namespace.ip("-6", "route", "add", "default", "via", "2001:db8::1")
            try namespace.ip("neigh", "add", "192.0.2.9", "lladdr", "02:00:00:00:00:09", "dev", "eth0", "nud", "permanent")
        }

        func filters(_ device: String) throws -> String { try namespace.require(["tc", "filter", "show", "dev", device, "ingress"]).stdout }
        func qdiscs(_ device: String) throws -> String { try namespace.require(["tc", "qdisc", "show", "dev", device]).stdout }
        var links: [String] { (try? namespace.json("link").compactMap { $0["ifname"] as? String }) ?? [] }
    }

    @Test func carriesTheInterfaceAndTearsDownToNothing() throws {
        let container = try Container("tn")
        let network = try TaskNetwork.prepare(namespacePath: container.namespace.path)
        #expect(network.interfaces.count == 1)
        let nic = try #require(network.interfaces.first)
        #expect(nic.tap == "gktap0")
        #expect(nic.mac == "02:00:00:00:00:02")
        #expect(nic.descriptor != nil)

        let tap = try #require(try container.namespace.json("-d", "link", "show", "dev", "gktap0").first)
        #expect(tap["mtu"] as? Int == 1450)
        #expect((tap["flags"] as? [String])?.contains("UP") == true)
        #expect(try container.filters("eth0").contains("mirred (Egress Redirect to device gktap0)"))
        #expect(try container.filters("gktap0").contains("mirred (Egress Redirect to device eth0)"))

        let interface = try #require(network.guestInterfaces.first)
        #expect(interface.matchMac == "02:00:00:00:00:02" && interface.mac == "02:00:00:00:00:02")
        #expect(interface.name == "eth0" && interface.mtu == 1450 && interface.up)
        #expect(interface.addresses.map(\.cidr) == ["192.0.2.2/24", "2001:db8::2/64"])
        #expect(interface.addresses.first?.broadcast == "192.0.2.255")
        // On-link routes first, the kernel's own ones left to the guest's kernel.
        let routes = network.guestRoutes.routes.map { "\($0.destination) \($0.gateway) \($0.interface) \($0.scope) \($0.metric)" }
        #expect(routes == ["198.51.100.0/24  eth0 link 0", "0.0.0.0/0 192.0.2.1 eth0 global 0", "::/0 2001:db8::1 eth0 global 1024"])
        #expect(network.guestNeighbors.neighbors.map { "\($0.interface) \($0.address) \($0.mac) \($0.state)" }
                == ["eth0 192.0.2.9 02:00:00:00:00:09 permanent"])
        #expect(network.notes.first?.contains("carrying eth0") == true)

        network.tearDown()
        #expect(!container.links.contains("gktap0"))
        #expect(try container.filters("eth0").isEmpty)
        #expect(!(try container.qdiscs("eth0")).contains("ingress"))
        // The namespace's own network is the caller's and stays.
        #expect(try container.namespace.ip("route").contains("default via 192.0.2.1 dev eth0"))
        network.tearDown()
    }

    /// Without a VM: the peer's ARP requests for the container's address come out of the tap, and a frame
    /// written into the tap reaches the peer.
    @Test func redirectsFramesBothWays() throws {
        let container = try Container("tr")
        let network = try TaskNetwork.prepare(namespacePath: container.namespace.path)
        let tap = try #require(network.interfaces.first?.descriptor)
        _ = try container.peer.run(["busybox", "ping", "-c", "2", "-W", "1", "192.0.2.2"])
        // Each read is one frame: a 10-byte virtio-net header, then Ethernet. Among the peer's frames (its own
        // IPv6 chatter too) is its ARP request: broadcast, from the peer's MAC, ethertype 0x0806.
        let peerMAC = try #require(try container.peer.json("link", "show", "dev", "peer0").first?["address"] as? String)
        var frames: [[UInt8]] = []
        while frames.count < 64, try tap.waitReadable(timeoutMilliseconds: frames.isEmpty ? 5000 : 200) {
            frames.append(try tap.read(upTo: 65536))
        }
        let arp = frames.first { $0.count >= 10 + 14 + 28 && $0[22] == 0x08 && $0[23] == 0x06 }
        #expect(arp.map { Array($0[10..<16]) } == [UInt8](repeating: 0xFF, count: 6), "frames: \(frames.count)")
        #expect(arp.map { Array($0[16..<22]).map { String(format: "%02x", $0) }.joined(separator: ":") } == peerMAC)
        // Nothing comes from the namespace's own stack through the tap: every frame is the peer's.
        #expect(frames.allSatisfy { Array($0[16..<22]).map { String(format: "%02x", $0) }.joined(separator: ":") == peerMAC })

        let received = try Self.receivedPackets(container.peer)
        let broadcast = [UInt8](repeating: 0, count: 10) + [UInt8](repeating: 0xFF, count: 6) + [0x02, 0, 0, 0, 0, 0x02, 0x88, 0xB5]
            + [UInt8](repeating: 0x5A, count: 46)
        try tap.writeAll(broadcast)
        var now = received
        for _ in 0..<100 where now == received {
            usleep(20_000)
            now = try Self.receivedPackets(container.peer)
        }
        #expect(now > received)
        network.tearDown()
    }

    static func receivedPackets(_ peer: ScratchNetworkNamespace) throws -> Int {
        let link = try #require(try peer.json("-s", "link", "show", "dev", "peer0").first)
        return try #require((link["stats64"] as? [String: Any])?["rx"] as? [String: Any])["packets"] as? Int ?? -1
    }

    @Test func aNamespaceWithOnlyLoopbackGivesTheVMNoNIC() throws {
        let namespace = try ScratchNetworkNamespace("tl")
        let network = try TaskNetwork.prepare(namespacePath: namespace.path)
        #expect(network.interfaces.isEmpty)
        #expect(network.guestInterfaces.isEmpty)
        #expect(network.guestRoutes.routes.isEmpty)
        network.tearDown()
    }

    @Test func aNamespaceCarriedAlreadyIsRefusedAndLeftAlone() throws {
        let container = try Container("td")
        let first = try TaskNetwork.prepare(namespacePath: container.namespace.path)
        let filters = try container.filters("eth0")
        do {
            _ = try TaskNetwork.prepare(namespacePath: container.namespace.path)
            Issue.record("a second TaskNetwork was made")
        } catch {
            #expect("\(error)".contains("gktap0"))
        }
        #expect(try container.filters("eth0") == filters)
        first.tearDown()
    }

    @Test(arguments: ["/var/run/netns/gknet-no-such-namespace", "/etc/hostname"])
    func aBadPathIsRefusedByName(path: String) {
        do {
            _ = try TaskNetwork.prepare(namespacePath: path)
            Issue.record("prepared \(path)")
        } catch {
            #expect("\(error)".contains(path))
        }
    }

    /// After a crash only the record is left: cleaning up from it removes the redirects and the tap, even
    /// while a descriptor (here: the dead process's stand-in) still holds the tap.
    @Test func cleansUpFromARecord() throws {
        let container = try Container("tc")
        let network = try TaskNetwork.prepare(namespacePath: container.namespace.path)
        let record = try JSONDecoder().decode(TaskNetworkRecord.self, from: JSONEncoder().encode(network.record))
        TaskNetwork.cleanUp(record)
        #expect(!container.links.contains("gktap0"))
        #expect(try container.filters("eth0").isEmpty)
        network.tearDown()
    }
}
