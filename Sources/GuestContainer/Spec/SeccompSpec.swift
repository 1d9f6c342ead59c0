import GuestJSON

/// `linux.seccomp`: a libseccomp filter description.
public struct SeccompSpec: Sendable {
    public var defaultAction: SeccompAction
    public var architectures: [String] = []
    public var flags: [SeccompFlag] = []
    public var rules: [SeccompRule] = []
    public var path: JSONPath

    init(_ field: JSONField) throws(SpecError) {
        let object = try field.object()
        path = object.path
        let defaultErrno = try object["defaultErrnoRet"]?.integer(UInt16.self)
        defaultAction = try SeccompAction(try object.required("defaultAction"), errno: defaultErrno)
        for element in try object["architectures"]?.array() ?? [] {
            let name = try element.string()
            guard name.hasPrefix("SCMP_ARCH_"), SeccompSpec.architectureNames.contains(name) else {
                throw element.error("unknown architecture \"\(name)\" (SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_AARCH64, …)")
            }
            architectures.append(name)
        }
        for element in try object["flags"]?.array() ?? [] {
            let name = try element.string()
            guard let flag = SeccompFlag(rawValue: name) else {
                throw element.error("unknown flag \"\(name)\" (SECCOMP_FILTER_FLAG_TSYNC, _LOG, _SPEC_ALLOW)")
            }
            flags.append(flag)
        }
        if let listener = try object["listenerPath"]?.string(), !listener.isEmpty {
            throw SpecError(object.path.appending("listenerPath"), "seccomp notification listeners are not supported")
        }
        for element in try object["syscalls"]?.array() ?? [] {
            rules.append(try SeccompRule(element))
        }
    }

    /// The architecture names libseccomp knows (SCMP_ARCH_* of seccomp.h).
    static let architectureNames: Set<String> = [
        "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
    ]
}

/// What a filter does with a matching call.
public enum SeccompAction: Sendable, Equatable {
    case killThread, killProcess, trap, allow, log
    case errno(UInt16)
    case trace(UInt16)

    /// Reads SCMP_ACT_*; SCMP_ACT_ERRNO and _TRACE take `errnoRet` (EPERM when absent, as in runc).
    init(_ field: JSONField, errno: UInt16?) throws(SpecError) {
        let name = try field.string()
        switch name {
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": self = .killThread
        case "SCMP_ACT_KILL_PROCESS": self = .killProcess
        case "SCMP_ACT_TRAP": self = .trap
        case "SCMP_ACT_ALLOW": self = .allow
        case "SCMP_ACT_LOG": self = .log
        case "SCMP_ACT_ERRNO": self = .errno(errno ?? 1)
        case "SCMP_ACT_TRACE": self = .trace(errno ?? 1)
        case "SCMP_ACT_NOTIFY": throw field.error("SCMP_ACT_NOTIFY is not supported (no seccomp agent)")
        default:
            throw field.error("unknown action \"\(name)\"")
        }
    }
}

/// SECCOMP_FILTER_FLAG_* a spec may ask for.
public enum SeccompFlag: String, Sendable {
    case tsync = "SECCOMP_FILTER_FLAG_TSYNC"
    case log = "SECCOMP_FILTER_FLAG_LOG"
    case specAllow = "SECCOMP_FILTER_FLAG_SPEC_ALLOW"
}

/// `linux.seccomp.syscalls[i]`: calls by name, an action, and conditions on their arguments.
public struct SeccompRule: Sendable, Equatable {
    public var names: [String]
    public var action: SeccompAction
    public var conditions: [SeccompCondition]

    init(_ field: JSONField) throws(SpecError) {
        let object = try field.object()
        names = try object.required("names").stringArray()
        let errno = try object["errnoRet"]?.integer(UInt16.self)
        action = try SeccompAction(try object.required("action"), errno: errno)
        conditions = try (object["args"]?.array() ?? []).map { f throws(SpecError) in try SeccompCondition(f) }
        for (i, name) in names.enumerated() where name.isEmpty {
            throw SpecError(object.path.appending("names").appending(i), "empty string is not a system call name")
        }
    }
}

/// A comparison of one system-call argument.
public struct SeccompCondition: Sendable, Equatable {
    public enum Operator: String, Sendable {
        case notEqual = "SCMP_CMP_NE", lessThan = "SCMP_CMP_LT", lessOrEqual = "SCMP_CMP_LE"
        case equal = "SCMP_CMP_EQ", greaterOrEqual = "SCMP_CMP_GE", greaterThan = "SCMP_CMP_GT"
        case maskedEqual = "SCMP_CMP_MASKED_EQ"
    }

    public var index: UInt32
    public var value: UInt64
    public var valueTwo: UInt64
    public var op: Operator

    init(_ field: JSONField) throws(SpecError) {
        let object = try field.object()
        index = try object.required("index").integer(UInt32.self)
        guard index < 6 else { throw SpecError(object.path.appending("index"), "\(index) is not an argument index (0-5)") }
        value = try object.required("value").uint64()
        valueTwo = try object["valueTwo"]?.uint64() ?? 0
        let opField = try object.required("op")
        let name = try opField.string()
        guard let op = Operator(rawValue: name) else {
            throw opField.error("unknown operator \"\(name)\" (SCMP_CMP_EQ, _NE, _LT, _LE, _GE, _GT, _MASKED_EQ)")
        }
        self.op = op
    }
}
