import GuestJSON
import GuestSys

/// `process`: what runs in the container and as whom.
public struct ProcessSpec: Sendable {
    public var terminal: Bool
    public var consoleSize: WindowSize?
    public var user: UserSpec
    public var args: [String]
    public var env: [String]
    public var cwd: String
    /// nil when the spec has no `capabilities` (runc then drops every capability of the init; an exec
    /// without them inherits the container's).
    public var capabilities: CapabilitySets?
    public var rlimits: [ResourceLimit]
    public var noNewPrivileges: Bool
    /// nil when unset: the container then runs with oom_score_adj 0, not the agent's -1000.
    public var oomScoreAdj: Int?
    public var ioPriority: IOPriority?
    public var path: JSONPath

    public init(_ field: JSONField) throws(SpecError) {
        let object = try field.object()
        path = object.path
        terminal = try object["terminal"]?.bool() ?? false
        if let size = try object["consoleSize"]?.object() {
            let height = try size.required("height").integer(UInt16.self)
            let width = try size.required("width").integer(UInt16.self)
            consoleSize = height > 0 && width > 0 ? WindowSize(rows: height, columns: width) : nil
        }
        user = try object["user"].map { f throws(SpecError) in try UserSpec(f) } ?? UserSpec()
        args = try object["args"]?.stringArray() ?? []
        env = try object["env"]?.stringArray() ?? []
        cwd = try object.required("cwd").string()
        capabilities = try object["capabilities"].map { f throws(SpecError) in try CapabilitySets(f) }
        rlimits = []
        var seen: Set<Int32> = []
        for limit in try object["rlimits"]?.array() ?? [] {
            let fields = try limit.object()
            let typeField = try fields.required("type")
            let name = try typeField.string()
            guard name.hasPrefix("RLIMIT_"), let resource = ResourceLimitNames.number(name) else {
                throw typeField.error("unknown rlimit \"\(name)\" (RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_CORE, …)")
            }
            guard seen.insert(resource).inserted else { throw typeField.error("\(name) is given twice") }
            let soft = try fields.required("soft").uint64()
            let hard = try fields.required("hard").uint64()
            guard soft <= hard else { throw limit.error("soft limit \(soft) is above the hard limit \(hard)") }
            rlimits.append(ResourceLimit(resource: resource, soft: soft, hard: hard))
        }
        noNewPrivileges = try object["noNewPrivileges"]?.bool() ?? false
        oomScoreAdj = try object["oomScoreAdj"]?.integer(Int.self)
        if let oomScoreAdj, !(-1000...1000).contains(oomScoreAdj) {
            throw SpecError(object.path.appending("oomScoreAdj"), "\(oomScoreAdj) is outside -1000...1000")
        }
        ioPriority = try object["ioPriority"].map { f throws(SpecError) in try IOPriority(f) }

        for name in ["apparmorProfile", "selinuxLabel"] {
            if let value = try object[name]?.string(), !value.isEmpty {
                throw SpecError(object.path.appending(name), "is not supported: the guest kernel has no \(name == "apparmorProfile" ? "AppArmor" : "SELinux")")
            }
        }
        for name in ["scheduler", "execCPUAffinity", "commandLine"] where object[name] != nil {
            throw SpecError(object.path.appending(name), "is not supported")
        }
        guard cwd.hasPrefix("/") else { throw SpecError(object.path.appending("cwd"), "\"\(cwd)\" is not an absolute path") }
        for (i, entry) in env.enumerated() {
            let name = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            guard entry.contains("="), !name.isEmpty, !entry.utf8.contains(0) else {
                throw SpecError(object.path.appending("env").appending(i), "\"\(entry)\" is not NAME=VALUE")
            }
        }
        for (i, arg) in args.enumerated() where arg.utf8.contains(0) {
            throw SpecError(object.path.appending("args").appending(i), "contains a NUL byte")
        }
    }
}

/// `process.user`: numeric ids as given (runc looks /etc/passwd up only for HOME).
public struct UserSpec: Sendable, Equatable {
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var umask: UInt32?
    public var additionalGids: [UInt32] = []

    public init() {}

    init(_ field: JSONField) throws(SpecError) {
        let object = try field.object()
        uid = try object["uid"]?.integer(UInt32.self) ?? 0
        gid = try object["gid"]?.integer(UInt32.self) ?? 0
        umask = try object["umask"]?.integer(UInt32.self)
        if let umask, umask > 0o777 { throw SpecError(object.path.appending("umask"), "\(umask) is not a umask (0 to 0777)") }
        additionalGids = try (object["additionalGids"]?.array() ?? []).map { f throws(SpecError) in try f.integer(UInt32.self) }
        if let name = try object["username"]?.string(), !name.isEmpty {
            throw SpecError(object.path.appending("username"), "is Windows-only; give uid and gid")
        }
    }
}

/// `process.capabilities`: the five sets by number.
public struct CapabilitySets: Sendable, Equatable {
    public var bounding: [Int32] = []
    public var effective: [Int32] = []
    public var inheritable: [Int32] = []
    public var permitted: [Int32] = []
    public var ambient: [Int32] = []

    public init() {}

    init(_ field: JSONField) throws(SpecError) {
        let object = try field.object()
        func set(_ name: String) throws(SpecError) -> [Int32] {
            var numbers: [Int32] = []
            for element in try object[name]?.array() ?? [] {
                let text = try element.string()
                guard let number = Capability.number(text) else {
                    throw element.error("unknown capability \"\(text)\" (CAP_CHOWN, CAP_NET_ADMIN, …)")
                }
                if !numbers.contains(number) { numbers.append(number) }
            }
            return numbers
        }
        bounding = try set("bounding")
        effective = try set("effective")
        inheritable = try set("inheritable")
        permitted = try set("permitted")
        ambient = try set("ambient")
    }
}

/// `process.ioPriority` (spec 1.1): ioprio_set(2) class and level.
public struct IOPriority: Sendable, Equatable {
    /// IOPRIO_CLASS_RT 1, _BE 2, _IDLE 3 (linux/ioprio.h).
    public var classNumber: Int32
    public var priority: Int32

    init(_ field: JSONField) throws(SpecError) {
        let object = try field.object()
        let classField = try object.required("class")
        switch try classField.string() {
        case "IOPRIO_CLASS_RT": classNumber = 1
        case "IOPRIO_CLASS_BE": classNumber = 2
        case "IOPRIO_CLASS_IDLE": classNumber = 3
        case let other: throw classField.error("unknown class \"\(other)\" (IOPRIO_CLASS_RT, _BE or _IDLE)")
        }
        priority = try object["priority"]?.integer(Int32.self) ?? 0
        guard (0...7).contains(priority) else {
            throw SpecError(object.path.appending("priority"), "\(priority) is outside 0...7")
        }
    }
}
