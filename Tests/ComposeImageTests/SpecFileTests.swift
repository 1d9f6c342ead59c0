// guest.yaml: every malformed spec names its line and key; a valid one says the same as the flags.
import ComposeImage
import Foundation
import GuestTestSupport
import Testing

struct SpecFileTests {
    @Test(arguments: [
        ("format: ext5\n", 1, "format"),
        ("init: a\ndax: maybe\n", 2, "dax"),
        ("init: a\nbogus: 1\n", 2, "bogus"),
        ("add:\n  - { src: a, dst: relative }\n", 2, "add.dst"),
        ("add:\n  - { src: a, dst: /x, mode: 999 }\n", 2, "add.mode"),
        ("launch:\n  vcpus: many\n", 2, "launch.vcpus"),
        ("launch:\n  vsock: carrier-pigeon\n", 2, "launch.vsock"),
        ("size: huge\n", 1, "size"),
        ("modules:\n  from: x\n  load: notalist\n", 3, "modules.load"),
        ("links:\n  - { path: /bin/sh }\n", 2, "links"),
        ("- just\n- a list\n", 1, "(top level)"),
        ("init: [unclosed\n", 2, ""),
    ])
    func malformedSpecNamesLineAndKey(text: String, line: Int, key: String) {
        do {
            _ = try SpecFile.parse(text, file: "guest.yaml", directory: "/specs")
            Issue.record("accepted a malformed spec: \(text)")
        } catch let ComposeError.badSpec(file, errorLine, errorKey, message) {
            #expect(file == "guest.yaml")
            #expect(errorLine == line, "\(message)")
            #expect(errorKey == key, "\(message)")
            #expect(!message.isEmpty)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func validSpecFillsEveryField() throws {
        let text = """
            init: bin/guest-init
            agent: /abs/guest-agent
            format: erofs
            dax: true
            dax_header: yes
            size: 64M
            compression: none
            base: base.tar
            output: out/guest.img
            add:
              - ./hello:/usr/bin/hello
              - { src: motd, dst: /etc/motd, mode: "0600", uid: 7, gid: 8 }
            links:
              - { path: /bin/sh, target: busybox }
            modules: { from: ../kernel, load: [virtio_pmem, nd_pmem] }
            kernel: [k/bzImage, k/vmlinux]
            launch: { memory_mib: 512, vcpus: 2, cid: 9, vsock: vhost, accel: kvm, guest_options: [debug=1], cmdline: [quiet] }
            """
        let spec = try SpecFile.parse(text, file: "g.yaml", directory: "/specs")
        #expect(spec.initPath == "/specs/bin/guest-init")
        #expect(spec.agentPath == "/abs/guest-agent")
        #expect(spec.format == .erofs && spec.dax && spec.daxHeader)
        #expect(spec.size == 64 << 20)
        #expect(spec.base == "/specs/base.tar" && spec.output == "/specs/out/guest.img")
        #expect(spec.additions == [.init(source: "/specs/hello", destination: "/usr/bin/hello"),
                                   .init(source: "/specs/motd", destination: "/etc/motd", permissions: 0o600, uid: 7, gid: 8)])
        #expect(spec.links == [.init(path: "/bin/sh", target: "busybox")])
        #expect(spec.modulesFrom == "/kernel" && spec.modules == ["virtio_pmem", "nd_pmem"])
        #expect(spec.kernels == ["/specs/k/bzImage", "/specs/k/vmlinux"])
        #expect(spec.launch.memoryMiB == 512 && spec.launch.vcpus == 2 && spec.launch.guestCID == 9)
        #expect(spec.launch.vsock == "vhost" && spec.launch.accel == "kvm")
        #expect(spec.launch.guestOptions == ["debug=1"] && spec.launch.extraCmdline == ["quiet"])
    }

    @Test
    func specAndFlagsBuildTheSameImage() throws {
        try #require(ImageTest.productsBuilt, "build guest-init, guest-agent and compose-guest first (swift build)")
        let scratch = try ScratchDirectory("gk-spec")
        try "owned\n".write(toFile: scratch.file("motd"), atomically: true, encoding: .utf8)
        let spec = """
            init: \(ImageTest.guestInit)
            agent: \(ImageTest.guestAgent)
            format: ext4
            dax: true
            add:
              - { src: motd, dst: /etc/motd, mode: "0640", uid: 1000, gid: 100 }
            output: from-spec.img
            """
        try spec.write(toFile: scratch.file("guest.yaml"), atomically: true, encoding: .utf8)
        let fromSpec = try ImageTest.compose(["image", "--spec", scratch.file("guest.yaml")])
        #expect(fromSpec.succeeded, "\(fromSpec)")
        let image = scratch.file("from-spec.img")
        let motd = try #require(try ImageTest.ext4Stat(image, "/etc/motd"))
        #expect(motd.mode == "0640" && motd.uid == 1000 && motd.gid == 100)

        // The same guest from flags (the flag form cannot set an owner, so the spec's file is added root-owned
        // here and changed back: compare everything else by building the spec again without the owner).
        let plainSpec = spec.replacingOccurrences(of: ", mode: \"0640\", uid: 1000, gid: 100", with: "")
            .replacingOccurrences(of: "from-spec.img", with: "plain.img")
        try plainSpec.write(toFile: scratch.file("plain.yaml"), atomically: true, encoding: .utf8)
        #expect(try ImageTest.compose(["image", "--spec", scratch.file("plain.yaml")]).succeeded)
        try ImageTest.composeDefault(["--dax", "--add", scratch.file("motd") + ":/etc/motd", "-o", scratch.file("flags.img")])
        #expect(try ImageTest.sha256(scratch.file("plain.img")) == (try ImageTest.sha256(scratch.file("flags.img"))))
    }
}
