import Foundation
import GuestClient
import GuestProto
import GuestTestSupport
import ProtoWire
import Testing
import TTRPC

/// The network RPCs over the wire: the built guest-agent runs in a scratch network namespace (nsenter) on a
/// Unix socket, and the answers and status codes are what a host gets from a guest.
@Suite struct AgentNetworkTests {
    final class Session: Sendable {
        let fixture: NetworkFixture
        let agent: RunningAgent
        let client: GuestClient

        init(_ label: String) throws {
            fixture = try NetworkFixture(label)
            agent = try RunningAgent(launcher: ["nsenter", "--net=\(fixture.guest.path)", "--"])
            client = try GuestClient(address: try AgentAddress(parsing: agent.address))
        }

        func call<Request: WireMessage, Response: WireMessage>(_ method: String, _ request: Request) throws -> Response {
            try client.channel.call(method, request, timeoutNanoseconds: 30_000_000_000)
        }

        /// The status a refused call answers with.
        func refusal<Request: WireMessage>(_ method: String, _ request: Request, sourceLocation: SourceLocation = #_sourceLocation) -> RPCError? {
            do {
                let _: Guestkit_V1_AddRoutesResponse = try client.channel.call(method, request, timeoutNanoseconds: 30_000_000_000)
                Issue.record("\(method) succeeded", sourceLocation: sourceLocation)
            } catch {
                if case .rpc(let status) = error { return status }
                Issue.record("\(method): \(error)", sourceLocation: sourceLocation)
            }
            return nil
        }
    }

    @Test func configuresListsAndAdvertisesTheFeature() throws {
        let session = try Session("rpc")
        #expect(try session.client.info().features.contains("network"))
        let mac: String = try #require(session.fixture.link("veth0")["address"] as? String)
        let configured: Guestkit_V1_ConfigureInterfaceResponse = try session.call(
            "ConfigureInterface", interfaceRequest(name: "eth0", matchMAC: mac, mtu: 1450, addresses: ["192.0.2.2/24", "2001:db8::2/64"]))
        #expect(configured.interface.name == "eth0")
        #expect(configured.interface.mtu == 1450)
        let _: Guestkit_V1_AddRoutesResponse = try session.call("AddRoutes", routes([route("default", via: "192.0.2.1"),
                                                                                     route("::/0", via: "2001:db8::1", dev: "eth0")]))
        var neighbors = Guestkit_V1_AddNeighborsRequest()
        neighbors.neighbors = [NeighborConfigurationTests.neighbor("eth0", "192.0.2.1", "02:00:00:00:dd:01")]
        let _: Guestkit_V1_AddNeighborsResponse = try session.call("AddNeighbors", neighbors)

        let interfaces: Guestkit_V1_ListInterfacesResponse = try session.call("ListInterfaces", Guestkit_V1_ListInterfacesRequest())
        let eth0 = try #require(interfaces.interfaces.first { $0.name == "eth0" })
        #expect(eth0.mac == mac && eth0.up && eth0.kind == "veth")
        #expect(Set(eth0.addresses.map(\.cidr)).isSuperset(of: ["192.0.2.2/24", "2001:db8::2/64"]))
        let lo = try #require(interfaces.interfaces.first { $0.name == "lo" })
        #expect(lo.addresses.contains { $0.cidr == "127.0.0.1/8" && $0.scope == "host" })
        let listedRoutes: Guestkit_V1_ListRoutesResponse = try session.call("ListRoutes", Guestkit_V1_ListRoutesRequest())
        #expect(listedRoutes.routes.contains { $0.destination == "0.0.0.0/0" && $0.gateway == "192.0.2.1" && $0.interface == "eth0" })
        #expect(listedRoutes.routes.contains { $0.destination == "::/0" && $0.gateway == "2001:db8::1" && $0.metric == 1024 })
        let listedNeighbors: Guestkit_V1_ListNeighborsResponse = try session.call("ListNeighbors", Guestkit_V1_ListNeighborsRequest())
        #expect(listedNeighbors.neighbors.contains { $0.address == "192.0.2.1" && $0.state == "permanent" })
        // What ip(8) sees in the namespace agrees.
        #expect(try session.fixture.guest.ip("route").contains("default via 192.0.2.1 dev eth0"))
    }

    @Test func refusesBadRequestsWithTheCodeAndTheCulprit() throws {
        let session = try Session("rpx")
        let _: Guestkit_V1_ConfigureInterfaceResponse = try session.call("ConfigureInterface", interfaceRequest(name: "veth0", addresses: ["192.0.2.2/24"]))
        let before = try session.fixture.snapshot()

        let unknown = session.refusal("ConfigureInterface", interfaceRequest(name: "eth9", addresses: ["192.0.2.3/24"]))
        #expect(unknown?.code == .failedPrecondition)
        #expect(unknown?.message.contains("eth9") == true)

        let unparsable = session.refusal("ConfigureInterface", interfaceRequest(name: "veth0", addresses: ["192.0.2.2/24", "2001:db8::zz/64"]))
        #expect(unparsable?.code == .invalidArgument)
        #expect(unparsable?.message.contains("2001:db8::zz/64") == true)

        let unreachable = session.refusal("AddRoutes", routes([route("default", via: "198.51.100.1", dev: "veth0")]))
        #expect(unreachable?.code == .failedPrecondition)
        #expect(unreachable?.message.contains("198.51.100.1") == true)

        var badNeighbor = Guestkit_V1_AddNeighborsRequest()
        badNeighbor.neighbors = [NeighborConfigurationTests.neighbor("veth7", "192.0.2.1", "02:00:00:00:dd:01")]
        let neighbor = session.refusal("AddNeighbors", badNeighbor)
        #expect(neighbor?.code == .failedPrecondition)
        #expect(neighbor?.message.contains("veth7") == true)

        let kernel = session.refusal("AddRoutes", routes([route("198.51.100.0/24", via: "192.0.2.1", dev: "veth0", scope: "host")]))
        #expect(kernel?.code == .invalidArgument)
        #expect(kernel?.message.contains("host scope") == true)

        let files = session.refusal("WriteNetworkFiles", NetworkFilesTests.request(id: "../x"))
        #expect(files?.code == .invalidArgument)
        #expect(files?.message.contains("../x") == true)

        #expect(try session.fixture.snapshot() == before)
        #expect(session.agent.isAlive)
    }
}
