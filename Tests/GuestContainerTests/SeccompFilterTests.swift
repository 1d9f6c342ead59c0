import CSeccomp
import GuestContainer
import GuestJSON
import GuestSys
import GuestTestSupport
import Testing

/// The engine's filter against one built by hand with libseccomp, both exported as pseudo filter code.
@Suite struct SeccompFilterTests {
    static func spec(_ json: String) throws -> SeccompSpec {
        let document = try JSONValue.parse(#"{"ociVersion":"1.0.2","linux":{"seccomp":"# + json + "}}")
        return try #require(try RuntimeSpec(document).linux.seccomp)
    }

    static func pfc(_ build: () throws -> Void, export: (FileDescriptor) throws -> Void) throws -> String {
        let scratch = try ScratchDirectory("engine-pfc")
        let path = scratch.file("filter.pfc")
        let fd = try FileDescriptor.open(path, [.readWrite, .create, .truncate])
        defer { fd.closeQuietly() }
        try build()
        try export(fd)
        return try FileSystem.readText(path)
    }

    static func engine(_ json: String) throws -> String {
        let filter = try SeccompFilter(try spec(json))
        return try pfc({}) { try filter.exportPseudoFilterCode(to: $0) }
    }

    /// A filter made with libseccomp calls: `rules` as (name, action, conditions).
    static func handMade(default defaultAction: UInt32, arches: [String] = [],
                         rules: [(String, UInt32, [scmp_arg_cmp])]) throws -> String {
        let context = try #require(seccomp_init(defaultAction))
        defer { seccomp_release(context) }
        #expect(seccomp_attr_set(context, SCMP_FLTATR_CTL_NNP, 0) == 0)
        for arch in arches { _ = seccomp_arch_add(context, seccomp_arch_resolve_name(arch)) }
        for (name, action, conditions) in rules {
            var args = conditions
            #expect(seccomp_rule_add_array(context, action, seccomp_syscall_resolve_name(name), UInt32(args.count), &args) == 0)
        }
        return try pfc({}) { #expect(seccomp_export_pfc(context, $0.rawValue) == 0) }
    }

    @Test func errnoRulesWithErrnoRet() throws {
        let ours = try Self.engine(#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","chroot"],"action":"SCMP_ACT_ERRNO","errnoRet":13},{"names":["setns"],"action":"SCMP_ACT_ERRNO"}]}"#)
        let expected = try Self.handMade(default: SCMP_ACT_ALLOW, rules: [("mkdir", gk_scmp_act_errno(13), []), ("chroot", gk_scmp_act_errno(13), []),
                                                                          ("setns", gk_scmp_act_errno(1), [])])
        #expect(ours == expected)
        #expect(ours.contains("action ERRNO(13)"))
    }

    @Test func everyComparisonOperator() throws {
        let ours = try Self.engine(#"""
            {"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
              {"names":["socket"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"},{"index":1,"value":3,"valueTwo":1,"op":"SCMP_CMP_MASKED_EQ"}]},
              {"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":8,"op":"SCMP_CMP_NE"}]},
              {"names":["kill"],"action":"SCMP_ACT_KILL_PROCESS","args":[{"index":1,"value":9,"op":"SCMP_CMP_GE"},{"index":0,"value":1,"op":"SCMP_CMP_LT"}]},
              {"names":["tkill"],"action":"SCMP_ACT_TRAP","args":[{"index":1,"value":9,"op":"SCMP_CMP_GT"},{"index":0,"value":1,"op":"SCMP_CMP_LE"}]}]}
            """#)
        let expected = try Self.handMade(default: SCMP_ACT_ALLOW, rules: [
            ("socket", gk_scmp_act_errno(1), [gk_scmp_arg(0, SCMP_CMP_EQ, 2, 0), gk_scmp_arg(1, SCMP_CMP_MASKED_EQ, 3, 1)]),
            ("personality", gk_scmp_act_errno(1), [gk_scmp_arg(0, SCMP_CMP_NE, 8, 0)]),
            ("kill", SCMP_ACT_KILL_PROCESS, [gk_scmp_arg(1, SCMP_CMP_GE, 9, 0), gk_scmp_arg(0, SCMP_CMP_LT, 1, 0)]),
            ("tkill", SCMP_ACT_TRAP, [gk_scmp_arg(1, SCMP_CMP_GT, 9, 0), gk_scmp_arg(0, SCMP_CMP_LE, 1, 0)]),
        ])
        #expect(ours == expected)
    }

    /// runc: two conditions on one argument are two rules (each matching alone).
    @Test func conditionsOnTheSameArgumentBecomeSeparateRules() throws {
        let ours = try Self.engine(#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["clone"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_GT"},{"index":0,"value":100,"op":"SCMP_CMP_LT"}]}]}"#)
        let expected = try Self.handMade(default: SCMP_ACT_ALLOW, rules: [
            ("clone", gk_scmp_act_errno(1), [gk_scmp_arg(0, SCMP_CMP_GT, 1, 0)]),
            ("clone", gk_scmp_act_errno(1), [gk_scmp_arg(0, SCMP_CMP_LT, 100, 0)]),
        ])
        #expect(ours == expected)
    }

    @Test func killMeansKillThreadAndDefaultRulesAreSkipped() throws {
        let filter = try SeccompFilter(try Self.spec(#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"architectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"],"syscalls":[{"names":["read","write","no_such_call"],"action":"SCMP_ACT_ALLOW"},{"names":["open"],"action":"SCMP_ACT_ERRNO","errnoRet":38},{"names":["ptrace"],"action":"SCMP_ACT_KILL"},{"names":["sched_yield"],"action":"SCMP_ACT_LOG"},{"names":["uname"],"action":"SCMP_ACT_TRACE","errnoRet":5}]}"#))
        #expect(filter.unknownNames == ["no_such_call"])
        let ours = try Self.pfc({}) { try filter.exportPseudoFilterCode(to: $0) }
        let expected = try Self.handMade(default: gk_scmp_act_errno(38), arches: ["x86", "x32"], rules: [
            ("read", SCMP_ACT_ALLOW, []), ("write", SCMP_ACT_ALLOW, []), ("ptrace", SCMP_ACT_KILL_THREAD, []),
            ("sched_yield", SCMP_ACT_LOG, []), ("uname", gk_scmp_act_trace(5), []),
        ])
        #expect(ours == expected)
        #expect(!ours.contains("open"))
    }

    @Test func flagsAreLibseccompAttributes() throws {
        let spec = try Self.spec(#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}"#)
        #expect(spec.flags == [.log, .specAllow])
        _ = try SeccompFilter(spec)
    }
}
