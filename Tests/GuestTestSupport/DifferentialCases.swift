// The bundles the differential suite runs under both runtimes: containerd's default spec (from `ctr oci
// spec`) changed one area at a time. Each case may list known differences: lines (by prefix) whose
// values differ between runc 1.1.5 and GuestKit, each with its reason.
import Foundation

/// A spec as the JSON object tests edit.
public typealias SpecObject = [String: Any]

/// A line prefix whose value may differ between the runtimes, and why.
public struct KnownDifference: Sendable {
    public var prefix: String
    public var reason: String

    public init(prefix: String, reason: String) {
        self.prefix = prefix
        self.reason = reason
    }
}

/// One differential bundle.
public struct DifferentialCase: Sendable, CustomStringConvertible {
    public var name: String
    public var probeArguments: [String] = []
    public var differences: [KnownDifference] = []
    /// The rootfs is handed to this uid:gid first (a user namespace's root must own it).
    public var rootfsOwner: (uid: Int, gid: Int)?
    /// Edits containerd's default spec (the process is already `probe` with PATH and TERM set).
    public var edit: @Sendable (inout SpecObject, _ host: String) -> Void

    public init(name: String, probeArguments: [String] = [], differences: [KnownDifference] = [], rootfsOwner: (uid: Int, gid: Int)? = nil,
                edit: @escaping @Sendable (inout SpecObject, _ host: String) -> Void) {
        self.name = name
        self.probeArguments = probeArguments
        self.differences = differences
        self.rootfsOwner = rootfsOwner
        self.edit = edit
    }

    public var description: String { name }

    /// containerd's default spec with the probe as the process and this case's edits.
    public func spec(host: String, cgroupsPath: String) throws -> SpecObject {
        var spec = try ContainerFixtures.containerdDefaultSpec()
        spec.with("process") {
            $0["args"] = ["probe", "report"] + probeArguments
            $0["env"] = ["PATH=/bin", "TERM=xterm"]
        }
        spec["hostname"] = "probe-host"
        spec.with("linux") { $0["cgroupsPath"] = cgroupsPath }
        edit(&spec, host)
        return spec
    }
}

extension SpecObject {
    /// Edits a nested object (created when missing).
    public mutating func with(_ key: String, _ body: (inout SpecObject) -> Void) {
        var inner = self[key] as? SpecObject ?? [:]
        body(&inner)
        self[key] = inner
    }

    public mutating func appendMount(_ mount: SpecObject) {
        self["mounts"] = (self["mounts"] as? [Any] ?? []) + [mount]
    }

    public mutating func setNamespaces(_ types: [String]) {
        with("linux") { $0["namespaces"] = types.map { ["type": $0] } }
    }
}

/// Every capability this machine's bounding set has (a sandboxed CI host may lack some: asking for those
/// fails under both runtimes, which proves little).
public let hostCapabilities: [String] = {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("CapBnd:") } ?? ""
    let mask = UInt64(line.split(separator: "\t").last.map(String.init) ?? "", radix: 16) ?? 0
    return allCapabilities.enumerated().filter { mask & (1 << UInt64($0.offset)) != 0 }.map(\.element)
}()

public let allCapabilities = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
                       "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
                       "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
                       "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
                       "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
                       "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
                       "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
                       "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]

/// Differences every native run has on this machine's cgroup v1 hierarchies.
public let nativeCgroupDifferences = [
    KnownDifference(prefix: "cgroup ", reason: "natively (cgroup v1 host) GuestKit joins only the memory, pids, cpu and freezer hierarchies; runc joins every v1 hierarchy and the hybrid unified one"),
]

/// Without a PID namespace the pid is whatever the kernel hands out.
public let pidDifference = KnownDifference(prefix: "pid ", reason: "in the host's PID namespace the pid is whatever the kernel hands out")

public let differentialCases: [DifferentialCase] = [
    DifferentialCase(name: "containerd-default") { _, _ in },
    DifferentialCase(name: "minimal-namespaces", differences: [pidDifference]) { spec, _ in
        spec.setNamespaces(["mount"])
        spec["mounts"] = [["destination": "/proc", "type": "proc", "source": "proc"]]
        spec.with("linux") { $0["maskedPaths"] = nil; $0["readonlyPaths"] = nil }
        spec["hostname"] = nil
    },
    DifferentialCase(name: "no-capabilities") { spec, _ in
        spec.with("process") { $0["capabilities"] = nil }
    },
    DifferentialCase(name: "all-capabilities") { spec, _ in
        spec.with("process") {
            $0["capabilities"] = ["bounding": hostCapabilities, "effective": hostCapabilities, "permitted": hostCapabilities,
                                  "inheritable": hostCapabilities, "ambient": hostCapabilities]
            $0["noNewPrivileges"] = false
        }
    },
    DifferentialCase(name: "user-with-groups") { spec, _ in
        spec.with("process") {
            $0["user"] = ["uid": 1000, "gid": 1000, "additionalGids": [29, 5, 1000]]
            $0["cwd"] = "/home/user"
        }
    },
    DifferentialCase(name: "user-ambient-capability") { spec, _ in
        spec.with("process") {
            $0["user"] = ["uid": 1000, "gid": 1000]
            let caps = ["CAP_NET_BIND_SERVICE", "CAP_KILL"]
            $0["capabilities"] = ["bounding": caps + ["CAP_CHOWN"], "effective": caps, "permitted": caps,
                                  "inheritable": caps, "ambient": ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"]]
        }
    },
    DifferentialCase(name: "user-nobody-missing-home") { spec, _ in
        spec.with("process") { $0["user"] = ["uid": 4242, "gid": 4242]; $0["cwd"] = "/tmp/work/dir" }
    },
    DifferentialCase(name: "no-new-privileges-off") { spec, _ in
        spec.with("process") { $0["noNewPrivileges"] = false }
    },
    DifferentialCase(name: "rlimits") { spec, _ in
        spec.with("process") {
            $0["rlimits"] = [["type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000],
                             ["type": "RLIMIT_NPROC", "soft": 300, "hard": 400],
                             ["type": "RLIMIT_CORE", "soft": 0, "hard": 0],
                             ["type": "RLIMIT_STACK", "soft": 4_194_304, "hard": 4_194_304],
                             ["type": "RLIMIT_MSGQUEUE", "soft": 1000, "hard": 2000]]
        }
    },
    DifferentialCase(name: "umask-and-env") { spec, _ in
        spec.with("process") {
            $0["user"] = ["uid": 0, "gid": 0, "umask": 0o077]
            $0["env"] = ["PATH=/bin", "TERM=xterm", "WITH SPACE=a b", "EMPTY=", "UNICODE=é✓", "HOME=/custom"]
        }
    },
    DifferentialCase(name: "readonly-root") { spec, _ in
        spec["root"] = ["path": "rootfs", "readonly": true]
    },
    DifferentialCase(name: "masked-and-readonly-paths", probeArguments: ["--masked", "/etc/group", "--masked", "/home",
                                                                         "--readonly", "/etc", "--masked", "/no/such"]) { spec, _ in
        spec.with("linux") {
            $0["maskedPaths"] = ($0["maskedPaths"] as? [String] ?? []) + ["/etc/group", "/home", "/no/such"]
            $0["readonlyPaths"] = ($0["readonlyPaths"] as? [String] ?? []) + ["/etc", "/no/such/either"]
        }
    },
    DifferentialCase(name: "bind-mounts", probeArguments: ["--readonly", "/data/ro", "--readonly", "/data/rw"]) { spec, host in
        spec.appendMount(["destination": "/data/rw", "type": "bind", "source": host + "/dir", "options": ["rbind", "rw"]])
        spec.appendMount(["destination": "/data/ro", "type": "bind", "source": host + "/dir", "options": ["bind", "ro", "nosuid", "nodev", "noexec"]])
        spec.appendMount(["destination": "/data/file", "type": "bind", "source": host + "/file", "options": ["bind", "ro"]])
        spec.appendMount(["destination": "/data/rro", "type": "none", "source": host + "/dir", "options": ["rbind", "rro"]])
    },
    DifferentialCase(name: "tmpfs-mounts") { spec, _ in
        spec.appendMount(["destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "size=1m"]])
        spec.appendMount(["destination": "/scratch/ro", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "mode=700"]])
        spec.appendMount(["destination": "/home", "type": "tmpfs", "source": "tmpfs", "options": ["noexec", "tmpcopyup"]])
    },
    DifferentialCase(name: "sysctls", probeArguments: ["--sysctl", "kernel.shmmax", "--sysctl", "net.ipv4.ip_forward",
                                                       "--sysctl", "kernel.domainname", "--sysctl", "fs.mqueue.msg_max"]) { spec, _ in
        spec.with("linux") {
            $0["sysctl"] = ["kernel.shmmax": "4096000", "net.ipv4.ip_forward": "1", "kernel.domainname": "probe.example",
                            "fs/mqueue/msg_max": "20"]
        }
    },
    DifferentialCase(name: "domainname", differences: [
        KnownDifference(prefix: "domainname ", reason: "runc 1.1.5 ignores the spec's domainname field; GuestKit sets it, as the runtime spec says"),
    ]) { spec, _ in
        spec["domainname"] = "probe.example"
    },
    DifferentialCase(name: "devices") { spec, _ in
        spec.with("linux") {
            $0["devices"] = [["path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600, "uid": 0, "gid": 0],
                             ["path": "/dev/full", "type": "c", "major": 1, "minor": 7, "fileMode": 0o640, "uid": 1000, "gid": 5],
                             ["path": "/dev/extra/fifo", "type": "p", "fileMode": 0o644],
                             ["path": "/dev/loop-control", "type": "c", "major": 10, "minor": 237]]
        }
    },
    DifferentialCase(name: "dev-bound-from-host") { spec, _ in
        spec["mounts"] = (spec["mounts"] as? [SpecObject] ?? []).filter { ($0["destination"] as? String)?.hasPrefix("/dev") != true }
            + [["destination": "/dev", "type": "bind", "source": "/dev", "options": ["rbind", "nosuid"]]]
    },
    DifferentialCase(name: "root-propagation-private") { spec, _ in
        spec.with("linux") { $0["rootfsPropagation"] = "private" }
        spec.appendMount(["destination": "/shared", "type": "tmpfs", "source": "tmpfs", "options": ["rshared"]])
    },
    DifferentialCase(name: "seccomp-errno-and-arguments") { spec, _ in
        spec.with("linux") {
            $0["seccomp"] = [
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "syscalls": [
                    ["names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13],
                    ["names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
                     "args": [["index": 0, "value": 2, "op": "SCMP_CMP_EQ"]]],
                    ["names": ["socket"], "action": "SCMP_ACT_ERRNO",
                     "args": [["index": 0, "value": 16, "op": "SCMP_CMP_GE"], ["index": 1, "value": 3, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"]]],
                    ["names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
                     "args": [["index": 0, "value": 0xffff_ffff, "op": "SCMP_CMP_NE"]]],
                    ["names": ["chroot", "setns"], "action": "SCMP_ACT_ERRNO"],
                    ["names": ["clock_settime"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                     "args": [["index": 0, "value": 10, "op": "SCMP_CMP_GT"], ["index": 0, "value": 200, "op": "SCMP_CMP_LT"]]],
                    ["names": ["no_such_syscall_anywhere"], "action": "SCMP_ACT_ERRNO"],
                ],
            ]
        }
    },
    DifferentialCase(name: "seccomp-without-no-new-privileges") { spec, _ in
        spec.with("process") { $0["noNewPrivileges"] = false }
        spec.with("linux") {
            $0["seccomp"] = ["defaultAction": "SCMP_ACT_ALLOW",
                             "syscalls": [["names": ["umount2"], "action": "SCMP_ACT_ERRNO", "errnoRet": 16],
                                          ["names": ["sched_yield"], "action": "SCMP_ACT_LOG"]]]
        }
    },
    DifferentialCase(name: "seccomp-default-errno") { spec, _ in
        spec.with("linux") {
            $0["seccomp"] = ["defaultAction": "SCMP_ACT_LOG", "defaultErrnoRet": 1,
                             "syscalls": [["names": ["chroot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2],
                                          ["names": ["umount2"], "action": "SCMP_ACT_KILL_PROCESS",
                                           "args": [["index": 1, "value": 12345, "op": "SCMP_CMP_EQ"]]]]]
        }
    },
    DifferentialCase(name: "seccomp-trap-ends-the-probe") { spec, _ in
        spec.with("linux") {
            $0["seccomp"] = ["defaultAction": "SCMP_ACT_ALLOW", "syscalls": [["names": ["sched_yield"], "action": "SCMP_ACT_TRAP"]]]
        }
    },
    DifferentialCase(name: "user-namespace", rootfsOwner: (200_000, 200_000)) { spec, _ in
        spec.with("linux") {
            $0["namespaces"] = ($0["namespaces"] as? [SpecObject] ?? []) + [["type": "user"]]
            $0["uidMappings"] = [["containerID": 0, "hostID": 200_000, "size": 65536]]
            $0["gidMappings"] = [["containerID": 0, "hostID": 200_000, "size": 65536]]
        }
    },
    DifferentialCase(name: "host-pid-and-network", differences: [pidDifference]) { spec, _ in
        spec.setNamespaces(["mount", "ipc", "uts"])
    },
    DifferentialCase(name: "host-uts") { spec, _ in
        spec.setNamespaces(["mount", "pid", "ipc", "network"])
        spec["hostname"] = nil
    },
    DifferentialCase(name: "resources") { spec, _ in
        spec.with("linux") {
            $0["resources"] = ["memory": ["limit": 268_435_456, "reservation": 134_217_728],
                               "cpu": ["shares": 512, "quota": 50000, "period": 100_000],
                               "pids": ["limit": 256]]
        }
    },
    DifferentialCase(name: "oom-score-and-args") { spec, _ in
        spec.with("process") { $0["oomScoreAdj"] = 250 }
    },
    DifferentialCase(name: "cgroup-mount") { spec, _ in
        spec.appendMount(["destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                          "options": ["ro", "nosuid", "noexec", "nodev"]])
    },
    DifferentialCase(name: "mqueue-and-shm-variations") { spec, _ in
        spec["mounts"] = (spec["mounts"] as? [SpecObject] ?? []).filter { $0["destination"] as? String != "/dev/shm" }
            + [["destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rw"]]]
    },
]

/// Two probe reports compared line by line after setting aside lines a known difference explains.
public struct ProbeComparison {
    public var unexplained: [String] = []

    public init(ours: String, theirs: String, allowed: [KnownDifference]) {
        func kept(_ text: String) -> [String] {
            text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                .filter { line in !allowed.contains { line.hasPrefix($0.prefix) } }
        }
        let a = kept(ours), b = kept(theirs)
        for change in b.difference(from: a) {
            switch change {
            case .remove(_, let line, _): unexplained.append("GuestKit only: \(line)")
            case .insert(_, let line, _): unexplained.append("runc only:     \(line)")
            }
        }
    }
}
