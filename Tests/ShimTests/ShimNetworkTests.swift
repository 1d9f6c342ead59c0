import ContentHash
import Foundation
import GuestTestSupport
import HostProcess
import Testing

/// A container's network namespace carried into its VM by the shim, driven by containerd's
/// `ctr run --with-ns network:PATH` as CNI and CRI name a namespace. Scratch namespaces only, and only
/// documentation addresses (192.0.2.0/24, 2001:db8::/64). Each check runs under our runtime and under runc
/// in the same namespaces, and both must see the same network. Serialized: every run boots a TCG guest.
@Suite(.serialized)
struct ShimNetworkTests {
    static let blobBytes = 16 << 20

    /// The container's namespace (eth0: 192.0.2.2/24, 2001:db8::2/64, MTU 1400, default routes both
    /// families) and the peer namespace acting as the network (peer0: .1 and ::1).
    final class Topology: Sendable {
        let container: ScratchNetworkNamespace
        let peer: ScratchNetworkNamespace

        init() throws {
            container = try ScratchNetworkNamespace("shim")
            peer = try ScratchNetworkNamespace("shimp")
            try container.connect("eth0", to: peer, as: "peer0")
            for (namespace, device) in [(container, "eth0"), (peer, "peer0")] { try namespace.ip("link", "set", device, "mtu", "1400") }
            try container.ip("addr", "add", "192.0.2.2/24", "dev", "eth0")
            try container.ip("addr", "add", "2001:db8::2/64", "dev", "eth0", "nodad")
            try peer.ip("addr", "add", "192.0.2.1/24", "dev", "peer0")
            try peer.ip("addr", "add", "2001:db8::1/64", "dev", "peer0", "nodad")
            try container.ip("route", "add", "default", "via", "192.0.2.1")
            try container.ip("-6", "route", "add", "default", "via", "2001:db8::1")
        }
    }

    /// A busybox nc server in a namespace that writes what one client sends to a file.
    final class Receiver: @unchecked Sendable {
        // Immutable after init.
        let process: ChildProcess
        let output: String

        init(in namespace: ScratchNetworkNamespace, port: Int, output: String) throws {
            self.output = output
            var command = ChildCommand("ip", ["netns", "exec", namespace.name, "busybox", "nc", "-l", "-p", "\(port)",
                                              "-e", "busybox", "dd", "of=\(output)", "bs=65536"])
            command.output = .null
            command.error = .null
            command.lifetime = .seconds(900)
            process = try ChildProcess(command)
            let deadline = ContinuousClock.now + .seconds(30)
            while !(try namespace.run(["busybox", "netstat", "-ltn"]).stdout.contains(":\(port) ")) {
                guard ContinuousClock.now < deadline else { throw ScratchNetworkError("nc did not listen on \(port)") }
                usleep(20_000)
            }
        }

        /// What the client sent, once it closed.
        func received() throws -> Data {
            #expect(process.wait(timeout: .seconds(300)) != nil, "the receiver on \(output) still runs")
            return (try? Data(contentsOf: URL(fileURLWithPath: output))) ?? Data()
        }
    }

    /// What the container printed: its interface, routes, and the digests of what it sent and received.
    static let script = """
        echo "=== addr"; ip addr show eth0 | grep -oE 'mtu [0-9]+|link/ether [0-9a-f:]+|inet6? [0-9a-f.:]+/[0-9]+ scope (global|link)'
        echo "=== route"; ip route
        echo "=== route6"; ip -6 route | grep -v '^fe80::/64\\|^multicast\\|^ff00::/8'
        echo "=== up"; head -c \(blobBytes) /dev/urandom > /tmp/up && sha256sum /tmp/up | cut -d' ' -f1 && nc 192.0.2.1 5000 < /tmp/up; echo "sent $?"
        echo "=== down"; nc -l -p 5001 -e dd of=/tmp/down bs=65536 2>/dev/null; sha256sum /tmp/down | cut -d' ' -f1
        echo "=== six"; echo over-ipv6 | nc 2001:db8::1 5002; echo "sent $?"
        """

    /// One run of `script` under `runtime` in the topology's container namespace, with the peer's side of
    /// each transfer; returns the container's sections and what the peer received and sent.
    static func exchange(_ h: ContainerdHarness, _ topology: Topology, runtime: String, id: String)
        throws -> (sections: [String: String], uploaded: Data, sixReceived: Data, downloadDigest: String, ctr: CommandResult) {
        let scratch = try ScratchDirectory("shimnet-\(id)")
        let upload = try Receiver(in: topology.peer, port: 5000, output: scratch.file("up"))
        let six = try Receiver(in: topology.peer, port: 5002, output: scratch.file("six"))
        let blob = Data((0..<blobBytes).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) })
        try blob.write(to: URL(fileURLWithPath: scratch.file("down")))

        let result = Locked<CommandResult?>(nil)
        let runner = Thread {
            result.set(try? ContainerdShimTests.run(h, id, ["sh", "-c", script], flags: ["--with-ns", "network:" + topology.container.path],
                                                     runtime: runtime))
        }
        runner.start()
        // The container's server exists only after its upload: connect until it answers.
        let deadline = ContinuousClock.now + .seconds(400)
        var sent = false
        while !sent && result.get() == nil && ContinuousClock.now < deadline {
            var command = ChildCommand("ip", ["netns", "exec", topology.peer.name, "busybox", "nc", "192.0.2.2", "5001"])
            command.input = .file(scratch.file("down"))
            command.output = .null
            command.error = .null
            sent = (try? command.run(timeout: .seconds(120)))?.succeeded ?? false
            if !sent { usleep(200_000) }
        }
        while result.get() == nil && ContinuousClock.now < deadline + .seconds(120) { Thread.sleep(forTimeInterval: 0.1) }
        let ctr = try #require(result.get(), "ctr run \(id) under \(runtime) did not end")
        #expect(sent, "the peer never reached the server in the container (\(runtime))")
        return (ContainerdShimTests.sections(ctr.stdout), try upload.received(), try six.received(), SHA256Hex.of(blob), ctr)
    }

    @Test func theContainerHasItsNamespacesNetworkAsUnderRunc() throws {
        let h = try ContainerdShimTests.harness()
        let topology = try Topology()
        let ours = try Self.exchange(h, topology, runtime: ContainerdShimTests.runtime, id: "net-gk")
        let runc = try Self.exchange(h, topology, runtime: "io.containerd.runc.v2", id: "net-runc")
        for (name, run) in [("guestkit", ours), ("runc", runc)] {
            #expect(run.ctr.succeeded, "\(name): \(run.ctr)\n\(h.log.suffix(3000))")
            let addr = run.sections["addr"] ?? ""
            #expect(addr.contains("mtu 1400") && addr.contains("inet 192.0.2.2/24") && addr.contains("inet6 2001:db8::2/64"),
                    "\(name) addr: \(addr)")
            #expect((run.sections["route"] ?? "").contains("default via 192.0.2.1 dev eth0"), "\(name): \(run.sections)")
            #expect((run.sections["route6"] ?? "").contains("default via 2001:db8::1 dev eth0"), "\(name): \(run.sections)")
            // 16 MiB each way, byte for byte.
            let up = (run.sections["up"] ?? "").split(separator: "\n")
            #expect(run.uploaded.count == Self.blobBytes, "\(name): the peer got \(run.uploaded.count) bytes")
            #expect(up.first.map(String.init) == SHA256Hex.of(run.uploaded) && up.last == "sent 0", "\(name) up: \(up)")
            #expect((run.sections["down"] ?? "").hasPrefix(run.downloadDigest), "\(name) down: \(run.sections["down"] ?? "")")
            #expect(String(decoding: run.sixReceived, as: UTF8.self) == "over-ipv6\n", "\(name) over IPv6")
        }
        // The same interface (MTU, MAC: the guest's NIC takes the veth's, addresses), the same routes. Not
        // compared: the device's kind and qdisc (virtio-net with pfifo_fast, a veth with noqueue) and the
        // state of the link-local address (the guest's NIC has just come up: DAD may still run).
        for key in ["addr", "route", "route6"] {
            #expect(ours.sections[key] == runc.sections[key], "\(key): guestkit\n\(ours.sections[key] ?? "")\n-- runc\n\(runc.sections[key] ?? "")")
        }
        // Teardown: no tap and no filter left in the namespace, which itself stays as it was.
        #expect(!(try topology.container.ip("link")).contains("gktap"))
        #expect(try topology.container.require(["tc", "filter", "show", "dev", "eth0", "ingress"]).stdout.isEmpty)
        #expect(try topology.container.ip("addr", "show", "eth0").contains("192.0.2.2/24"))
        #expect(h.leftoversAfterSettling().isEmpty, "\(h.leftovers())")
    }

    @Test func withoutANetworkNamespaceTheVMHasNoNIC() throws {
        let h = try ContainerdShimTests.harness()
        let ours = try ContainerdShimTests.run(h, "nonet", ["sh", "-c", "ls /sys/class/net"])
        let runc = try ContainerdShimTests.run(h, "nonet-runc", ["sh", "-c", "ls /sys/class/net"], runtime: "io.containerd.runc.v2")
        #expect(ours.succeeded && runc.succeeded, "\(ours)\n\(runc)")
        // ctr gives runc a new network namespace: only lo; ours has a VM without a NIC.
        #expect(ours.stdout == "lo\n" && ours.stdout == runc.stdout, "guestkit: \(ours.stdout) runc: \(runc.stdout)")
    }

    /// CNI as Kubernetes uses it: Debian's bridge plugin with host-local IPAM, run in a scratch namespace
    /// that stands for the host, puts a veth into the container's namespace; the container gets the address
    /// IPAM gave and reaches the bridge's gateway.
    @Test func aContainerStartedThroughCNIGetsItsAddressAndReachesTheGateway() throws {
        let plugins = "/usr/lib/cni"
        try #require(FileManager.default.isExecutableFile(atPath: plugins + "/bridge"), "needs containernetworking-plugins (\(plugins)/bridge)")
        let h = try ContainerdShimTests.harness()
        let host = try ScratchNetworkNamespace("cnih")
        let container = try ScratchNetworkNamespace("cnic")
        let scratch = try ScratchDirectory("shim-cni")
        let config = """
            {"cniVersion":"1.0.0","name":"gk-test","type":"bridge","bridge":"gkbr0","isGateway":true,"ipMasq":false,
             "ipam":{"type":"host-local","dataDir":"\(scratch.file("ipam"))","ranges":[[{"subnet":"192.0.2.0/24","gateway":"192.0.2.1"}]],
                     "routes":[{"dst":"0.0.0.0/0"}]}}
            """
        func cni(_ command: String) throws -> ChildResult {
            var child = ChildCommand("ip", ["netns", "exec", host.name, plugins + "/bridge"])
            child.environment = ["CNI_COMMAND": command, "CNI_CONTAINERID": "gk-cni", "CNI_NETNS": container.path,
                                 "CNI_IFNAME": "eth0", "CNI_PATH": plugins, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
            child.input = .bytes(Array(config.utf8))
            child.output = .capture
            child.error = .capture
            return try child.run(timeout: .seconds(60))
        }
        let added = try cni("ADD")
        #expect(added.succeeded, "CNI ADD: \(added)")
        defer { _ = try? cni("DEL") }
        let result = try JSONSerialization.jsonObject(with: Data(added.stdout.utf8)) as? [String: Any]
        let ips = result?["ips"] as? [[String: Any]]
        let address = try #require(ips?.first?["address"] as? String, "CNI result: \(added.stdout)")

        let gateway = try Receiver(in: host, port: 5003, output: scratch.file("hello"))
        let run = try ContainerdShimTests.run(h, "cni1", ["sh", "-c", "ip -o -4 addr show eth0; echo hello-gateway | nc 192.0.2.1 5003; echo sent $?"],
                                              flags: ["--with-ns", "network:" + container.path])
        #expect(run.succeeded, "\(run)\n\(h.log.suffix(3000))")
        #expect(run.stdout.contains("inet \(address)"), "the container has IPAM's \(address): \(run.stdout)")
        #expect(run.stdout.contains("sent 0"), "\(run.stdout)")
        #expect(String(decoding: try gateway.received(), as: UTF8.self) == "hello-gateway\n")
        #expect(!(try container.ip("link")).contains("gktap"))
        #expect(h.leftoversAfterSettling().isEmpty, "\(h.leftovers())")
    }
}
