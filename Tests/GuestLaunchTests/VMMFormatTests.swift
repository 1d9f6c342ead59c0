// The Firecracker and kvmtool settings GuestLaunch writes, checked against those VMMs' documented formats,
// kept here as data: Firecracker's FullVmConfiguration from its API description
// (src/firecracker/swagger/firecracker.yaml: each object's properties, their types, the required ones),
// and kvmtool's `lkvm run` options from Documentation/kvmtool.1, Documentation/io-testing.txt and
// builtin-run.c (option names, argument forms, the network parameters of virtio/net.c).
import ComposeImage
import Foundation
import GuestLaunch
import Testing

enum FirecrackerSchema {
    enum Kind: Equatable { case string, boolean, integer, object, array }

    struct Object {
        let properties: [String: Kind]
        let required: Set<String>
    }

    /// FullVmConfiguration: the top-level keys of a config file, and the object or array item each holds.
    static let topLevel: [String: (kind: Kind, item: String?)] = [
        "balloon": (.object, "Balloon"), "drives": (.array, "Drive"), "boot-source": (.object, "BootSource"),
        "cpu-config": (.object, "CpuConfig"), "logger": (.object, "Logger"), "machine-config": (.object, "MachineConfiguration"),
        "metrics": (.object, "Metrics"), "memory-hotplug": (.object, "MemoryHotplugConfig"), "mmds-config": (.object, "MmdsConfig"),
        "network-interfaces": (.array, "NetworkInterface"), "pmem": (.array, "Pmem"), "vsock": (.object, "Vsock"),
        "entropy": (.object, "EntropyDevice"),
    ]

    static let objects: [String: Object] = [
        "BootSource": Object(properties: ["boot_args": .string, "initrd_path": .string, "kernel_image_path": .string],
                             required: ["kernel_image_path"]),
        "Drive": Object(properties: ["drive_id": .string, "partuuid": .string, "is_root_device": .boolean, "cache_type": .string,
                                     "is_read_only": .boolean, "path_on_host": .string, "rate_limiter": .object,
                                     "io_engine": .string, "socket": .string],
                        required: ["drive_id", "is_root_device"]),
        "Pmem": Object(properties: ["id": .string, "path_on_host": .string, "root_device": .boolean, "read_only": .boolean,
                                    "rate_limiter": .object],
                       required: ["id", "path_on_host"]),
        "MachineConfiguration": Object(properties: ["cpu_template": .string, "smt": .boolean, "mem_size_mib": .integer,
                                                    "track_dirty_pages": .boolean, "vcpu_count": .integer, "huge_pages": .string],
                                       required: ["mem_size_mib", "vcpu_count"]),
        "NetworkInterface": Object(properties: ["guest_mac": .string, "host_dev_name": .string, "iface_id": .string, "mtu": .integer,
                                                "rx_rate_limiter": .object, "tx_rate_limiter": .object],
                                   required: ["host_dev_name", "iface_id"]),
        "Vsock": Object(properties: ["guest_cid": .integer, "uds_path": .string, "vsock_id": .string],
                        required: ["guest_cid", "uds_path"]),
    ]

    static func kind(of value: JSONValue) -> Kind? {
        switch value {
        case .bool: return .boolean
        case .integer: return .integer
        case .string: return .string
        case .array: return .array
        case .object: return .object
        case .null, .number: return nil
        }
    }

    /// Every way `document` (a config file, JSON-typed: booleans are not numbers) departs from the schema.
    static func problems(_ document: JSONValue) -> [String] {
        guard case .object(let members) = document else { return ["not an object"] }
        var problems: [String] = []
        for (key, value) in members {
            guard let (kind, itemName) = topLevel[key] else { problems.append("unknown top-level key \(key)"); continue }
            guard Self.kind(of: value) == kind else { problems.append("\(key) is not a \(kind)"); continue }
            guard let itemName, let schema = objects[itemName] else { continue }
            var items: [[String: JSONValue]] = []
            switch value {
            case .array(let elements):
                for element in elements {
                    if case .object(let item) = element { items.append(item) } else { problems.append("\(key) holds a non-object") }
                }
            case .object(let item): items = [item]
            default: break
            }
            for item in items {
                for (property, propertyValue) in item {
                    guard let expected = schema.properties[property] else { problems.append("\(key).\(property) is not a \(itemName) property"); continue }
                    if Self.kind(of: propertyValue) != expected { problems.append("\(key).\(property) is not a \(expected)") }
                }
                for property in schema.required where item[property] == nil { problems.append("\(key) lacks required \(property)") }
            }
        }
        return problems
    }
}

enum KvmtoolOptions {
    enum Argument { case path, count, text, console, diskImage, cid, nineP, network }

    /// `lkvm run` options GuestLaunch may write, with the argument each takes.
    static let options: [String: Argument] = [
        "--name": .text, "-k": .path, "--kernel": .path, "-m": .count, "--mem": .count, "-c": .count, "--cpus": .count,
        "--console": .console, "-p": .text, "--params": .text, "-i": .path, "--initrd": .path, "-d": .diskImage, "--disk": .diskImage,
        "--vsock": .cid, "--9p": .nineP, "-n": .network, "--network": .network,
    ]
    static let consoles: Set = ["serial", "virtio", "hv"]
    /// virtio/net.c's set_net_param keys.
    static let networkKeys: Set = ["guest_mac", "mode", "script", "downscript", "guest_ip", "host_ip", "trans", "tapif", "vhost", "fd", "mq"]
    static let networkModes: Set = ["user", "tap", "none"]

    static func problems(_ argv: [String]) -> [String] {
        guard argv.count >= 2, argv[1] == "run" else { return ["not an `lkvm run` command: \(argv.prefix(2))"] }
        var problems: [String] = []
        var index = 2
        while index < argv.count {
            let option = argv[index]
            guard let argument = options[option] else { problems.append("unknown option \(option)"); index += 1; continue }
            guard index + 1 < argv.count else { problems.append("\(option) without its argument"); break }
            let value = argv[index + 1]
            index += 2
            switch argument {
            case .path: if !value.hasPrefix("/") && value != "KERNEL" { problems.append("\(option) \(value): not a path") }
            case .count: if Int(value).map({ $0 < 1 }) ?? true { problems.append("\(option) \(value): not a positive number") }
            case .text: break
            case .console: if !consoles.contains(value) { problems.append("--console \(value)") }
            case .diskImage:
                let parts = value.split(separator: ",")
                if parts.isEmpty || !parts[0].hasPrefix("/") || parts.dropFirst().contains(where: { !["ro", "direct"].contains($0) }) {
                    problems.append("\(option) \(value): not IMAGE[,ro]")
                }
            case .cid:
                // 0 and 1 are reserved, 2 is the host (io-testing.txt's VSOCK section).
                if UInt64(value).map({ $0 < 3 }) ?? true { problems.append("--vsock \(value): not a guest CID") }
            case .nineP:
                let parts = value.split(separator: ",", omittingEmptySubsequences: false)
                if parts.count != 2 || !parts[0].hasPrefix("/") || parts[1].isEmpty { problems.append("--9p \(value): not DIR,TAG") }
            case .network:
                for pair in value.split(separator: ",") {
                    let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    guard kv.count == 2, networkKeys.contains(kv[0]) else { problems.append("-n \(value): bad parameter \(pair)"); continue }
                    if kv[0] == "mode", !networkModes.contains(kv[1]) { problems.append("-n mode=\(kv[1])") }
                }
            }
        }
        return problems
    }
}

struct VMMFormatTests {
    static func machine(root: Disk.Attachment) -> VirtualMachine {
        var vm = VirtualMachine(kernel: "/k/vmlinux", commandLine: "console=ttyS0 root=/dev/vda ro", memoryMiB: 512, vcpus: 2)
        vm.initrd = "/k/initrd.img"
        vm.rootDisk = Disk(path: "/images/rootfs.img", size: 64 << 20, attachment: root)
        vm.vsock = Vsock(guestCID: 3, hybridSocket: "/run/vm/guest.vsock")
        vm.interfaces = [NetworkInterface(tap: "tap0", mac: "02:00:00:00:00:01"), NetworkInterface(tap: "tap1", mac: "02:00:00:00:00:02")]
        return vm
    }

    @Test(arguments: [Disk.Attachment.pmem, .block])
    func firecrackerConfigFollowsItsAPIDescription(root: Disk.Attachment) throws {
        let data = try JSONEncoder().encode(try FirecrackerConfig(Self.machine(root: root)))
        let problems = FirecrackerSchema.problems(try JSONDecoder().decode(JSONValue.self, from: data))
        #expect(problems.isEmpty, "\(problems)")
        let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(document.keys).isSuperset(of: ["boot-source", "drives", "machine-config", "vsock", "network-interfaces"]))
        let nics = try #require(document["network-interfaces"] as? [[String: Any]])
        #expect(nics.map { $0["host_dev_name"] as? String } == ["tap0", "tap1"])
        #expect(Set(nics.compactMap { $0["iface_id"] as? String }).count == 2, "iface ids are distinct")
        let vcpus = try #require((document["machine-config"] as? [String: Any])?["vcpu_count"] as? Int)
        #expect((1...32).contains(vcpus) && (vcpus == 1 || vcpus % 2 == 0), "Firecracker takes 1 or an even number up to 32")
        #expect(((document["vsock"] as? [String: Any])?["guest_cid"] as? Int).map { $0 >= 3 } == true)
        if root == .pmem {
            #expect((document["pmem"] as? [[String: Any]])?.first?["root_device"] as? Bool == true)
            #expect((document["drives"] as? [Any])?.isEmpty == true)
        } else {
            #expect((document["drives"] as? [[String: Any]])?.first?["is_root_device"] as? Bool == true)
            #expect(document["pmem"] == nil)
        }
    }

    @Test func kvmtoolCommandUsesItsDocumentedOptions() throws {
        var vm = Self.machine(root: .block)
        vm.shares = [SharedDirectory(hostPath: "/srv/bundle", tag: "bundle")]
        let argv = try KvmtoolCommand.arguments(for: vm)
        #expect(KvmtoolOptions.problems(argv).isEmpty, "\(KvmtoolOptions.problems(argv)) in \(argv)")
        #expect(argv.contains("--vsock") && argv.contains("--9p") && argv.filter { $0 == "-n" }.count == 2, "\(argv)")
    }

    @Test func kvmtoolRefusesWhatItCannotAttach() {
        #expect(throws: LaunchError.self) { try KvmtoolCommand.arguments(for: Self.machine(root: .pmem)) }
        var readOnlyShare = Self.machine(root: .block)
        readOnlyShare.shares = [SharedDirectory(hostPath: "/srv/bundle", tag: "bundle", readOnly: true)]
        #expect(throws: LaunchError.self) { try KvmtoolCommand.arguments(for: readOnlyShare) }
    }

    @Test func firecrackerAndCloudHypervisorRefuseSharesByName() {
        var vm = Self.machine(root: .block)
        vm.shares = [SharedDirectory(hostPath: "/srv/bundle", tag: "bundle")]
        let firecracker = #expect(throws: LaunchError.self) { try FirecrackerConfig(vm) }
        #expect("\(firecracker.map { "\($0)" } ?? "")".contains("bundle"))
        let cloudHypervisor = #expect(throws: LaunchError.self) { try CloudHypervisorCommand.arguments(for: vm) }
        #expect("\(cloudHypervisor.map { "\($0)" } ?? "")".contains("virtio-fs"))
    }

    @Test func cloudHypervisorTakesNICsAndHybridVsock() throws {
        let argv = try CloudHypervisorCommand.arguments(for: Self.machine(root: .pmem))
        #expect(argv.contains("tap=tap0,mac=02:00:00:00:00:01") && argv.contains("tap=tap1,mac=02:00:00:00:00:02"))
        #expect(argv.contains("cid=3,socket=/run/vm/guest.vsock"))
        #expect(argv.contains("file=/images/rootfs.img,discard_writes=on"))
    }
}
