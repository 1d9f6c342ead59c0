import Foundation
import GuestContainer
import GuestJSON
import GuestSys
import GuestTestSupport
import Testing

@Suite struct RuntimeSpecTests {
    static func json(_ object: [String: Any]) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    /// The engine's verdict on a spec: decoding, then the bundle checks Create makes.
    static func verdict(_ object: [String: Any]) throws -> ContainerError? {
        let scratch = try ScratchDirectory("engine-spec")
        try FileManager.default.createDirectory(atPath: scratch.path + "/rootfs", withIntermediateDirectories: true)
        do {
            let spec = try RuntimeSpec(json: try json(object))
            _ = try ContainerBundle(path: scratch.path, spec: spec, rootfs: nil)
            return nil
        } catch let error as SpecError {
            return .invalidSpec(error)
        } catch let error as ContainerError {
            return error
        }
    }

    @Test(arguments: badSpecs)
    func refusesNamingTheField(_ bad: BadSpec) throws {
        var spec = baseSpec()
        bad.edit(&spec)
        let error = try #require(try Self.verdict(spec), "accepted a spec with a bad \(bad.field)")
        guard case .invalidSpec(let invalid) = error else {
            Issue.record("\(bad.field): not an invalid-spec error: \(error)")
            return
        }
        #expect(invalid.path.description == bad.field, "\(error)")
        #expect(invalid.message.contains(bad.message), "\(error)")
    }

    @Test func acceptsTheBaseSpec() throws {
        #expect(try Self.verdict(baseSpec()) == nil)
    }

    @Test func readsContainerdsDefaultSpec() throws {
        let bytes = Array(Data(try ContainerFixtures.containerdDefaultSpecText().utf8))
        let spec = try RuntimeSpec(json: bytes)
        let process = try #require(spec.process)
        #expect(process.noNewPrivileges)
        #expect(process.rlimits == [ResourceLimit(resource: 7, soft: 1024, hard: 1024)])
        #expect(process.capabilities?.bounding.map(Capability.name).contains("CAP_NET_RAW") == true)
        #expect(spec.mounts.map(\.destination) == ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/run"])
        #expect(spec.linux.namespaces.map(\.kind) == [.pid, .ipc, .uts, .mount, .network])
        #expect(spec.linux.maskedPaths.contains("/proc/kcore") && spec.linux.readonlyPaths.contains("/proc/sys"))
        #expect(spec.linux.resources?.devices == [ResourcesSpec.DeviceRule(allow: false, type: "a", major: nil, minor: nil, access: "rwm")])
        #expect(spec.linux.cgroupsPath == "/default")
    }

    @Test(arguments: [
        (["nosuid", "noexec", "nodev"], MountFlags([.noSetuid, .noExec, .noDevices]), [MountFlags](), ""),
        (["rbind", "ro"], MountFlags([.bind, .recursive, .readOnly]), [], ""),
        (["ro", "rw", "exec", "noexec", "suid"], MountFlags([.noExec]), [], ""),
        (["mode=755", "size=65536k", "strictatime", "nosuid"], MountFlags([.strictAccessTime, .noSetuid]), [], "mode=755,size=65536k"),
        (["rslave", "private", "defaults"], MountFlags(), [MountFlags([.slavePropagation, .recursive]), .privatePropagation], ""),
        (["newinstance", "ptmxmode=0666", "gid=5"], MountFlags(), [], "newinstance,ptmxmode=0666,gid=5"),
    ])
    func readsMountOptionsAsRuncDoes(options: [String], flags: MountFlags, propagation: [MountFlags], data: String) {
        let parsed = MountOptions(options)
        #expect(parsed.flags == flags)
        #expect(parsed.propagation == propagation)
        #expect(parsed.data == data)
    }

    @Test func recursiveAttributesClearTheAtimeBitsToo() {
        let parsed = MountOptions(["rro", "rnoatime", "rexec"])
        #expect(parsed.recursiveSet == 0x1 | 0x10)
        #expect(parsed.recursiveClear == 0x70 | 0x8)
        #expect(MountOptions(["tmpcopyup"]).copyUp)
    }

    @Test(arguments: [("CAP_CHOWN", Int32?.some(0)), ("CAP_NET_ADMIN", 12), ("CAP_SYS_ADMIN", 21), ("CAP_CHECKPOINT_RESTORE", 40),
                      ("CAP_BPF", 39), ("cap_chown", nil), ("NET_ADMIN", nil), ("CAP_41", nil)])
    func namesCapabilities(name: String, number: Int32?) {
        #expect(Capability.number(name) == number)
        if let number { #expect(Capability.name(number) == name) }
    }

    @Test(arguments: [("abc", true), ("a.b_c-d+e", true), ("", false), (".", false), ("..", false), ("a/b", false),
                      ("has space", false), (String(repeating: "x", count: 128), true), (String(repeating: "x", count: 129), false)])
    func checksIDs(id: String, valid: Bool) {
        let accepted = (try? ContainerID.check(id)) != nil
        #expect(accepted == valid)
    }

    @Test(arguments: [("/a/b", "/a/b"), ("a/../../b", "/b"), ("/x/./y//z/", "/x/y/z"), ("", "/"), ("../..", "/")])
    func cleansCgroupPaths(path: String, cleaned: String) {
        #expect(CgroupPath.clean(path) == cleaned)
    }

    @Test func defaultsTheCgroupPathToGuestkitID() {
        #expect(CgroupPath.forContainer(id: "c1", spec: nil) == "/guestkit/c1")
        #expect(CgroupPath.forContainer(id: "c1", spec: "relative/p") == "/relative/p")
    }

    @Test func resolvesSymlinksInsideTheRoot() throws {
        let scratch = try ScratchDirectory("engine-join")
        let root = scratch.path
        try FileManager.default.createDirectory(atPath: root + "/real/dir", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + "/abs", withDestinationPath: "/real")
        try FileManager.default.createSymbolicLink(atPath: root + "/up", withDestinationPath: "../../../etc")
        try FileManager.default.createSymbolicLink(atPath: root + "/loop", withDestinationPath: "loop")
        #expect(RootfsPath.resolve("/abs/dir/x", in: root) == root + "/real/dir/x")
        #expect(RootfsPath.resolve("/up/passwd", in: root) == root + "/etc/passwd")
        #expect(RootfsPath.resolve("/../../etc", in: root) == root + "/etc")
        #expect(RootfsPath.resolve("/loop/x", in: root).hasPrefix(root))
    }

    @Test func carriesInstructionsThroughJSON() throws {
        let spec = try JSONValue.parse(try Self.json(baseSpec()))
        let instructions = InitInstructions(mode: .exec, id: "c1", bundle: "/b", rootfs: "/b/rootfs", spec: spec,
                                            process: ["cwd": "/", "args": ["sh"]], cgroupPath: "/guestkit/c1", parentHooks: true)
        let back = try InitInstructions(try JSONValue.parse(instructions.json.serialized))
        #expect(back.mode == .exec && back.id == "c1" && back.rootfs == "/b/rootfs" && back.parentHooks)
        #expect(back.spec == spec && back.process == instructions.process)
    }

    @Test(arguments: [InitMessage.instructionsChunk([1, 2, 3]), .instructionsEnd, .resume, .hooksFailed("hook 0 failed"),
                      .start, .runHooks, .ready, .created, .failed("mount proc on /proc: EPERM")])
    func framesSyncMessages(message: InitMessage) {
        #expect(InitMessage(message.bytes) == message)
    }
}
