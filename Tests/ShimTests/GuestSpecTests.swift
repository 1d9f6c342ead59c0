@testable import ContainerdShim
import GuestJSON
import Testing

/// How the bundle's config.json is rewritten for the guest: rootfs and host binds through the 9p share,
/// hooks left out, everything else untouched.
struct GuestSpecTests {
    @Test func rewritesRootBindsAndHooks() throws {
        let config = """
            {"ociVersion":"1.0.2","process":{"args":["sh"]},"root":{"path":"rootfs","readonly":true},
             "mounts":[{"destination":"/proc","type":"proc","source":"proc"},
                       {"destination":"/data","type":"bind","source":"/srv/data","options":["rbind","ro"]},
                       {"destination":"/etc/x","source":"/etc/hostname","options":["bind"]}],
             "hooks":{"prestart":[{"path":"/usr/bin/true"}]},"linux":{"namespaces":[{"type":"pid"}]}}
            """
        var shared: [(String, Bool)] = []
        let spec = try GuestSpec(configJSON: Array(config.utf8), guestRootfs: "/run/guestkit/share/rootfs", hostHostname: "host-a") { path, recursive in
            shared.append((path, recursive))
            return "/run/guestkit/share/mounts/\(shared.count - 1)"
        }
        #expect(shared.map(\.0) == ["/srv/data", "/etc/hostname"] && shared.map(\.1) == [true, false])
        let value = try JSONValue.parse(spec.json)
        #expect(value["root"]?["path"] == .string("/run/guestkit/share/rootfs"))
        #expect(value["root"]?["readonly"] == .bool(true))
        #expect(value["hooks"] == nil)
        #expect(value["process"] == .object(JSONObject([("args", .strings(["sh"]))])))
        guard case .array(let mounts)? = value["mounts"] else {
            Issue.record("mounts missing")
            return
        }
        #expect(mounts[0]["source"] == .string("proc"))
        #expect(mounts[1]["source"] == .string("/run/guestkit/share/mounts/0"))
        #expect(mounts[1]["options"] == .strings(["rbind", "ro"]))
        #expect(mounts[2]["source"] == .string("/run/guestkit/share/mounts/1"))
        #expect(spec.notes.contains { $0.contains("hooks left out") })
        #expect(value["hostname"] == nil, "no UTS namespace of its own: the hostname is not the shim's to set")
    }

    @Test func aNetworkNamespaceByPathGoesToTheVMAndLeavesTheSpec() throws {
        let config = #"{"linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/var/run/netns/t1"},{"type":"mount"}]}}"#
        let spec = try GuestSpec(configJSON: Array(config.utf8), guestRootfs: "/r", hostHostname: "host-a") { _, _ in "/g" }
        #expect(spec.networkNamespacePath == "/var/run/netns/t1")
        let value = try JSONValue.parse(spec.json)
        guard case .array(let namespaces)? = value["linux"]?["namespaces"] else {
            Issue.record("namespaces missing")
            return
        }
        #expect(namespaces.map { $0["type"] } == [.string("pid"), .string("mount")])

        let fresh = #"{"linux":{"namespaces":[{"type":"network"}]}}"#
        let kept = try GuestSpec(configJSON: Array(fresh.utf8), guestRootfs: "/r", hostHostname: "h") { _, _ in "/g" }
        #expect(kept.networkNamespacePath == nil, "a new network namespace is made in the guest, as runc makes one")
        #expect(try JSONValue.parse(kept.json)["linux"]?["namespaces"] == .array([.object(JSONObject([("type", .string("network"))]))]))
        #expect {
            try GuestSpec(configJSON: Array(#"{"linux":{"namespaces":[{"type":"network","path":"netns/t1"}]}}"#.utf8),
                          guestRootfs: "/r", hostHostname: "h") { _, _ in "/g" }
        } throws: { "\($0)".contains("not absolute") }
    }

    @Test(arguments: [
        (#"{"linux":{"namespaces":[{"type":"uts"}]}}"#, "host-a"),
        (#"{"hostname":"","linux":{"namespaces":[{"type":"uts","path":""}]}}"#, "host-a"),
        (#"{"hostname":"mine","linux":{"namespaces":[{"type":"uts"}]}}"#, "mine"),
        (#"{"linux":{"namespaces":[{"type":"uts","path":"/proc/1/ns/uts"}]}}"#, nil),
    ] as [(String, String?)])
    func aNewUTSNamespaceShowsTheHostsHostname(config: String, expected: String?) throws {
        let spec = try GuestSpec(configJSON: Array(config.utf8), guestRootfs: "/r", hostHostname: "host-a") { _, _ in "/g" }
        let value = try JSONValue.parse(spec.json)
        #expect(value["hostname"] == expected.map { .string($0) })
    }

    @Test(arguments: [
        ("[1,2]", "not a JSON object"),
        ("{\"mounts\":[3]}", "mounts[0] is not an object"),
        ("{\"mounts\":[{\"type\":\"bind\",\"source\":\"rel/dir\",\"destination\":\"/x\"}]}", "absolute host path"),
        ("{\"root\":", "config.json: invalid JSON"),
    ])
    func refuses(config: String, message: String) {
        #expect {
            try GuestSpec(configJSON: Array(config.utf8), guestRootfs: "/r", hostHostname: "host-a") { _, _ in "/g" }
        } throws: { error in
            "\(error)".contains(message)
        }
    }
}
