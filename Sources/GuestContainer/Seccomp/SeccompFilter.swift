import CSeccomp
import GuestSys

/// A spec's seccomp profile built into a libseccomp filter, then loaded into the kernel. The rules follow
/// runc's reading: SCMP_ACT_KILL is KILL_THREAD, a rule whose action is the default one is skipped, a
/// system call libseccomp does not know is ignored, conditions on the same argument become one rule each,
/// and libseccomp never sets no_new_privs itself (the spec decides that).
public final class SeccompFilter {
    let context: scmp_filter_ctx
    /// The system call names the filter ignored because libseccomp does not know them.
    public private(set) var unknownNames: [String] = []

    public init(_ spec: SeccompSpec) throws(ContainerError) {
        guard let context = seccomp_init(Self.action(spec.defaultAction)) else {
            throw ContainerError.failed("\(spec.path): seccomp_init failed (libseccomp refused the default action)")
        }
        self.context = context
        try check(seccomp_attr_set(context, SCMP_FLTATR_CTL_NNP, 0), "\(spec.path): seccomp_attr_set(CTL_NNP)")
        for (i, name) in spec.architectures.enumerated() {
            let arch = seccomp_arch_resolve_name(String(name.dropFirst("SCMP_ARCH_".count)).lowercased())
            guard arch != 0 else {
                throw ContainerError.invalidSpec(SpecError(spec.path.appending("architectures").appending(i), "libseccomp does not know \(name)"))
            }
            let rc = seccomp_arch_add(context, arch)
            if rc != 0 && rc != -Errno.EEXIST {
                try check(rc, "\(spec.path.appending("architectures").appending(i)): seccomp_arch_add(\(name))")
            }
        }
        for flag in spec.flags {
            switch flag {
            case .tsync: try check(seccomp_attr_set(context, SCMP_FLTATR_CTL_TSYNC, 1), "seccomp flag \(flag.rawValue)")
            case .log: try check(seccomp_attr_set(context, SCMP_FLTATR_CTL_LOG, 1), "seccomp flag \(flag.rawValue)")
            case .specAllow: try check(seccomp_attr_set(context, SCMP_FLTATR_CTL_SSB, 1), "seccomp flag \(flag.rawValue)")
            }
        }
        let defaultAction = Self.action(spec.defaultAction)
        for (r, rule) in spec.rules.enumerated() {
            let action = Self.action(rule.action)
            if action == defaultAction { continue }
            let conditions = rule.conditions.map {
                gk_scmp_arg($0.index, Self.compare($0.op), $0.value, $0.valueTwo)
            }
            var perArgument = [Int](repeating: 0, count: 6)
            for condition in rule.conditions { perArgument[Int(condition.index)] += 1 }
            let separate = perArgument.contains { $0 > 1 }
            for name in rule.names {
                let number = seccomp_syscall_resolve_name(name)
                guard number != __NR_SCMP_ERROR else {
                    unknownNames.append(name)
                    continue
                }
                let where_ = "\(spec.path.appending("syscalls").appending(r)): \(name)"
                if conditions.isEmpty {
                    try check(seccomp_rule_add_array(context, action, number, 0, nil), where_)
                } else if separate {
                    for condition in conditions {
                        var one = [condition]
                        try check(seccomp_rule_add_array(context, action, number, 1, &one), where_)
                    }
                } else {
                    var all = conditions
                    try check(seccomp_rule_add_array(context, action, number, UInt32(all.count), &all), where_)
                }
            }
        }
    }

    deinit { seccomp_release(context) }

    func check(_ rc: Int32, _ what: String) throws(ContainerError) {
        guard rc != 0 else { return }
        throw ContainerError.step(what, SysError("libseccomp", [], code: -rc))
    }

    /// Loads the filter for the calling thread (and its future children).
    public func load() throws(ContainerError) {
        try check(seccomp_load(context), "load the seccomp filter")
    }

    /// Writes the filter as libseccomp's pseudo filter code (readable text) to `fd`, for tests.
    public func exportPseudoFilterCode(to fd: FileDescriptor) throws(ContainerError) {
        try check(seccomp_export_pfc(context, fd.rawValue), "seccomp_export_pfc")
    }

    static func action(_ action: SeccompAction) -> UInt32 {
        switch action {
        case .killThread: return SCMP_ACT_KILL_THREAD
        case .killProcess: return SCMP_ACT_KILL_PROCESS
        case .trap: return SCMP_ACT_TRAP
        case .allow: return SCMP_ACT_ALLOW
        case .log: return SCMP_ACT_LOG
        case .errno(let code): return gk_scmp_act_errno(code)
        case .trace(let code): return gk_scmp_act_trace(code)
        }
    }

    static func compare(_ op: SeccompCondition.Operator) -> scmp_compare {
        switch op {
        case .notEqual: return SCMP_CMP_NE
        case .lessThan: return SCMP_CMP_LT
        case .lessOrEqual: return SCMP_CMP_LE
        case .equal: return SCMP_CMP_EQ
        case .greaterOrEqual: return SCMP_CMP_GE
        case .greaterThan: return SCMP_CMP_GT
        case .maskedEqual: return SCMP_CMP_MASKED_EQ
        }
    }
}
