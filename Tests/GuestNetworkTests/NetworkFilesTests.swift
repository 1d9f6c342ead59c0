import Foundation
import GuestNetwork
import GuestProto
import GuestTestSupport
import Testing

@Suite struct NetworkFilesTests {
    static func request(id: String = "c1", nameservers: [String] = [], search: [String] = [], options: [String] = [],
                        hosts: [(String, [String])] = [], hostname: String = "") -> Guestkit_V1_WriteNetworkFilesRequest {
        var request = Guestkit_V1_WriteNetworkFilesRequest()
        request.containerID = id
        request.nameservers = nameservers
        request.search = search
        request.dnsOptions = options
        request.hosts = hosts.map { entry in
            var line = Guestkit_V1_HostsEntry()
            line.address = entry.0
            line.names = entry.1
            return line
        }
        request.hostname = hostname
        return request
    }

    @Test func writesTheThreeFiles() throws {
        let scratch = try ScratchDirectory("gknet-files")
        let response = try NetworkFiles.write(Self.request(nameservers: ["192.0.2.53", "2001:db8::53"], search: ["svc.example.test", "example.test"],
                                                           options: ["ndots:5", "edns0"], hosts: [("192.0.2.2", ["web", "web.example.test"])],
                                                           hostname: "web"), root: scratch.path)
        #expect(response.resolvConf == scratch.path + "/c1/resolv.conf")
        #expect(try String(contentsOfFile: response.resolvConf, encoding: .utf8)
                == "nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch svc.example.test example.test\noptions ndots:5 edns0\n")
        #expect(try String(contentsOfFile: response.hosts, encoding: .utf8)
                == "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n192.0.2.2\tweb web.example.test\n")
        #expect(try String(contentsOfFile: response.hostname, encoding: .utf8) == "web\n")
        let mode = try FileManager.default.attributesOfItem(atPath: response.hosts)[.posixPermissions] as? Int
        #expect(mode == 0o644)
    }

    @Test func writesNoHostnameFileWithoutAHostname() throws {
        let scratch = try ScratchDirectory("gknet-files")
        let response = try NetworkFiles.write(Self.request(), root: scratch.path)
        #expect(response.hostname.isEmpty)
        #expect(try String(contentsOfFile: response.resolvConf, encoding: .utf8).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/c1/hostname"))
    }

    static let refusals: [(String, Guestkit_V1_WriteNetworkFilesRequest, String)] = [
        ("empty id", request(id: ""), "container_id"),
        ("id with a slash", request(id: "../etc"), "../etc"),
        ("id ..", request(id: ".."), "\"..\""),
        ("name server that does not parse", request(nameservers: ["192.0.2.300"]), "192.0.2.300"),
        ("four name servers", request(nameservers: ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"]), "at most 3"),
        ("bad search domain", request(search: ["bad domain"]), "bad domain"),
        ("option with a space", request(options: ["ndots: 5"]), "ndots: 5"),
        ("hosts address that does not parse", request(hosts: [("web", ["web"])]), "web"),
        ("hosts entry without names", request(hosts: [("192.0.2.2", [])]), "no names"),
        ("hosts name with a newline", request(hosts: [("192.0.2.2", ["web\n192.0.2.66 evil"])]), "hosts[0]"),
        ("hostname with a dot-dot", request(hostname: "a..b"), "a..b"),
        ("hostname too long", request(hostname: String(repeating: "h", count: 65)), "64"),
    ]

    @Test(arguments: refusals)
    func refusesAndWritesNothing(label: String, request: Guestkit_V1_WriteNetworkFilesRequest, culprit: String) throws {
        let scratch = try ScratchDirectory("gknet-files")
        do {
            _ = try NetworkFiles.write(request, root: scratch.path)
            Issue.record("\(label): written")
        } catch {
            guard case .invalidArgument(let message) = error else {
                Issue.record("\(label): \(error)")
                return
            }
            #expect(message.contains(culprit), "\(label): \(message)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty, "\(label) wrote something")
    }
}
