import GuestJSON
import GuestSys

/// `linux`: namespaces, ids, devices, cgroup, seccomp and the rest of what Linux containers set.
public struct LinuxSpec: Sendable {
    public var namespaces: [NamespaceSpec] = []
    public var uidMappings: [IDMapping] = []
    public var gidMappings: [IDMapping] = []
    public var devices: [DeviceSpec] = []
    public var cgroupsPath: String?
    public var resources: ResourcesSpec?
    /// MS_* propagation for `/` before anything else (default MS_SLAVE|MS_REC, as in runc).
    public var rootfsPropagation: MountFlags?
    public var seccomp: SeccompSpec?
    public var sysctl: [(key: String, value: String)] = []
    public var maskedPaths: [String] = []
    public var readonlyPaths: [String] = []
    public var personality: UInt?
    public var path = JSONPath([.member("linux")])

    public init() {}

    init(_ field: JSONField) throws(SpecError) {
        let object = try field.object()
        path = object.path
        var kinds: Set<NamespaceKind> = []
        for element in try object["namespaces"]?.array() ?? [] {
            let namespace = try NamespaceSpec(element)
            guard kinds.insert(namespace.kind).inserted else {
                throw element.error("namespace \"\(namespace.kind.rawValue)\" is listed twice")
            }
            namespaces.append(namespace)
        }
        uidMappings = try (object["uidMappings"]?.array() ?? []).map { f throws(SpecError) in try IDMapping(f) }
        gidMappings = try (object["gidMappings"]?.array() ?? []).map { f throws(SpecError) in try IDMapping(f) }
        devices = try (object["devices"]?.array() ?? []).map { f throws(SpecError) in try DeviceSpec(f) }
        cgroupsPath = try object["cgroupsPath"]?.string()
        resources = try object["resources"].map { f throws(SpecError) in try ResourcesSpec(f) }
        if let propagation = object["rootfsPropagation"] {
            let text = try propagation.string()
            if !text.isEmpty {
                guard let flags = MountOptions.propagationTable[text] else {
                    throw propagation.error("unknown propagation \"\(text)\" (rprivate, private, rslave, slave, rshared, shared, runbindable, unbindable)")
                }
                rootfsPropagation = flags
            }
        }
        seccomp = try object["seccomp"].map { f throws(SpecError) in try SeccompSpec(f) }
        sysctl = try object["sysctl"]?.stringMap() ?? []
        maskedPaths = try object["maskedPaths"]?.stringArray() ?? []
        readonlyPaths = try object["readonlyPaths"]?.stringArray() ?? []
        if let personality = try object["personality"]?.object() {
            let domain = try personality.required("domain")
            switch try domain.string() {
            case "LINUX": self.personality = 0
            case "LINUX32": self.personality = 0x0008
            case let other: throw domain.error("unknown personality domain \"\(other)\" (LINUX or LINUX32)")
            }
            if let flags = try personality["flags"]?.stringArray(), !flags.isEmpty {
                throw SpecError(personality.path.appending("flags"), "personality flags are not supported")
            }
        }
        if let label = try object["mountLabel"]?.string(), !label.isEmpty {
            throw SpecError(object.path.appending("mountLabel"), "is not supported: the guest kernel has no SELinux")
        }
        for name in ["intelRdt", "timeOffsets", "memoryPolicy", "netDevices"] where object[name] != nil {
            throw SpecError(object.path.appending(name), "is not supported")
        }
        for (i, path) in maskedPaths.enumerated() where !path.hasPrefix("/") {
            throw SpecError(object.path.appending("maskedPaths").appending(i), "\"\(path)\" is not an absolute path")
        }
        for (i, path) in readonlyPaths.enumerated() where !path.hasPrefix("/") {
            throw SpecError(object.path.appending("readonlyPaths").appending(i), "\"\(path)\" is not an absolute path")
        }
    }

    /// The namespace entry of a kind, if the spec lists it.
    public func namespace(_ kind: NamespaceKind) -> NamespaceSpec? { namespaces.first { $0.kind == kind } }
}

/// The namespace kinds of the spec, with their /proc/<pid>/ns names and CLONE_NEW* flags.
public enum NamespaceKind: String, Sendable, CaseIterable {
    case pid, network, mount, ipc, uts, user, cgroup

    /// The file under /proc/<pid>/ns/.
    public var procName: String {
        switch self {
        case .pid: return "pid"
        case .network: return "net"
        case .mount: return "mnt"
        case .ipc: return "ipc"
        case .uts: return "uts"
        case .user: return "user"
        case .cgroup: return "cgroup"
        }
    }

    /// CLONE_NEW* (linux/sched.h).
    public var cloneFlag: Int32 {
        switch self {
        case .pid: return 0x2000_0000
        case .network: return 0x4000_0000
        case .mount: return 0x0002_0000
        case .ipc: return 0x0800_0000
        case .uts: return 0x0400_0000
        case .user: return 0x1000_0000
        case .cgroup: return 0x0200_0000
        }
    }

    /// The order namespaces are joined in: user first (it grants the rights for the rest), pid before
    /// the clone that enters it, mount last (it changes the root the later paths would resolve in).
    public static let joinOrder: [NamespaceKind] = [.user, .ipc, .uts, .network, .pid, .cgroup, .mount]
}

/// `linux.namespaces[i]`: create one (no path) or join one (path).
public struct NamespaceSpec: Sendable, Equatable {
    public var kind: NamespaceKind
    public var path: String?

    public init(kind: NamespaceKind, path: String? = nil) {
        self.kind = kind
        self.path = path
    }

    init(_ field: JSONField) throws(SpecError) {
        let object = try field.object()
        let typeField = try object.required("type")
        let type = try typeField.string()
        guard let kind = NamespaceKind(rawValue: type) else {
            if type == "time" { throw typeField.error("time namespaces are not supported") }
            throw typeField.error("unknown namespace type \"\(type)\" (pid, network, mount, ipc, uts, user, cgroup)")
        }
        self.kind = kind
        let path = try object["path"]?.string()
        self.path = path?.isEmpty == true ? nil : path
        if let p = self.path, !p.hasPrefix("/") {
            throw SpecError(object.path.appending("path"), "\"\(p)\" is not an absolute path")
        }
    }
}

/// One line of uid_map or gid_map.
public struct IDMapping: Sendable, Equatable {
    public var containerID: UInt32
    public var hostID: UInt32
    public var size: UInt32

    public init(containerID: UInt32, hostID: UInt32, size: UInt32) {
        self.containerID = containerID
        self.hostID = hostID
        self.size = size
    }

    init(_ field: JSONField) throws(SpecError) {
        let object = try field.object()
        containerID = try object.required("containerID").integer(UInt32.self)
        hostID = try object.required("hostID").integer(UInt32.self)
        size = try object.required("size").integer(UInt32.self)
        guard size > 0 else { throw SpecError(object.path.appending("size"), "must be greater than zero") }
        guard UInt64(containerID) + UInt64(size) <= 1 << 32, UInt64(hostID) + UInt64(size) <= 1 << 32 else {
            throw SpecError(object.path.appending("size"), "\(size) ids from \(containerID)/\(hostID) run past 2^32")
        }
    }
}

/// `linux.devices[i]`: a node created in the container's /dev.
public struct DeviceSpec: Sendable, Equatable {
    /// S_IFCHR, S_IFBLK or S_IFIFO.
    public var typeMode: UInt32
    public var path: String
    public var major: UInt32
    public var minor: UInt32
    public var fileMode: UInt32
    public var uid: UInt32
    public var gid: UInt32

    init(_ field: JSONField) throws(SpecError) {
        let object = try field.object()
        let typeField = try object.required("type")
        switch try typeField.string() {
        case "c", "u": typeMode = 0o020000
        case "b": typeMode = 0o060000
        case "p": typeMode = 0o010000
        case let other: throw typeField.error("unknown device type \"\(other)\" (c, u, b or p)")
        }
        path = try object.required("path").string()
        guard path.hasPrefix("/") else { throw SpecError(object.path.appending("path"), "\"\(path)\" is not an absolute path") }
        major = typeMode == 0o010000 ? 0 : try object.required("major").integer(UInt32.self)
        minor = typeMode == 0o010000 ? 0 : try object.required("minor").integer(UInt32.self)
        fileMode = (try object["fileMode"]?.integer(UInt32.self) ?? 0o666) & 0o7777
        uid = try object["uid"]?.integer(UInt32.self) ?? 0
        gid = try object["gid"]?.integer(UInt32.self) ?? 0
    }

    public init(typeMode: UInt32, path: String, major: UInt32, minor: UInt32, fileMode: UInt32 = 0o666, uid: UInt32 = 0, gid: UInt32 = 0) {
        self.typeMode = typeMode
        self.path = path
        self.major = major
        self.minor = minor
        self.fileMode = fileMode
        self.uid = uid
        self.gid = gid
    }
}
