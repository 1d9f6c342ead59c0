// Specs that must be refused, each with the field the error must name. Shared by the engine's decoding
// tests and the agent's CreateContainer tests (INVALID_ARGUMENT naming the field).
import Foundation

/// One malformed or unsupported spec: a change to a valid base spec and the field path the error names.
public struct BadSpec: Sendable, CustomStringConvertible {
    public var field: String
    public var message: String
    public var edit: @Sendable (inout [String: Any]) -> Void

    public var description: String { field }
}

extension Dictionary where Key == String, Value == Any {
    fileprivate mutating func change(_ key: String, _ body: (inout [String: Any]) -> Void) {
        var inner = self[key] as? [String: Any] ?? [:]
        body(&inner)
        self[key] = inner
    }
}

public let badSpecs: [BadSpec] = [
    BadSpec(field: "ociVersion", message: "is not a supported version") { $0["ociVersion"] = "2.0.0" },
    BadSpec(field: "process.cwd", message: "is not an absolute path") { s in s.change("process") { $0["cwd"] = "relative/dir" } },
    BadSpec(field: "process.env[1]", message: "is not NAME=VALUE") { s in s.change("process") { $0["env"] = ["PATH=/bin", "NOEQUALS"] } },
    BadSpec(field: "process.capabilities.bounding[1]", message: "unknown capability \"CAP_FLY\"") { s in
        s.change("process") { $0["capabilities"] = ["bounding": ["CAP_CHOWN", "CAP_FLY"]] }
    },
    BadSpec(field: "process.rlimits[0].type", message: "unknown rlimit \"RLIMIT_TEAPOTS\"") { s in
        s.change("process") { $0["rlimits"] = [["type": "RLIMIT_TEAPOTS", "soft": 1, "hard": 1]] }
    },
    BadSpec(field: "process.rlimits[0]", message: "above the hard limit") { s in
        s.change("process") { $0["rlimits"] = [["type": "RLIMIT_NOFILE", "soft": 2048, "hard": 1024]] }
    },
    BadSpec(field: "process.user.uid", message: "is not an integer from 0 to 4294967295") { s in
        s.change("process") { $0["user"] = ["uid": -1, "gid": 0] }
    },
    BadSpec(field: "process.apparmorProfile", message: "is not supported") { s in s.change("process") { $0["apparmorProfile"] = "docker-default" } },
    BadSpec(field: "linux.namespaces[1].type", message: "unknown namespace type \"pidgin\"") { s in
        s.change("linux") { $0["namespaces"] = [["type": "mount"], ["type": "pidgin"]] }
    },
    BadSpec(field: "linux.namespaces[1]", message: "is listed twice") { s in
        s.change("linux") { $0["namespaces"] = [["type": "mount"], ["type": "mount"]] }
    },
    BadSpec(field: "linux.seccomp.syscalls[3].action", message: "unknown action \"SCMP_ACT_FOO\"") { s in
        s.change("linux") {
            $0["seccomp"] = ["defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                ["names": ["read"], "action": "SCMP_ACT_ALLOW"], ["names": ["write"], "action": "SCMP_ACT_ALLOW"],
                ["names": ["open"], "action": "SCMP_ACT_ERRNO"], ["names": ["close"], "action": "SCMP_ACT_FOO"]]]
        }
    },
    BadSpec(field: "linux.seccomp.syscalls[0].args[0].op", message: "unknown operator") { s in
        s.change("linux") {
            $0["seccomp"] = ["defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                ["names": ["socket"], "action": "SCMP_ACT_ERRNO", "args": [["index": 0, "value": 2, "op": "SCMP_CMP_ABOUT"]]]]]
        }
    },
    BadSpec(field: "linux.seccomp.architectures[0]", message: "unknown architecture") { s in
        s.change("linux") { $0["seccomp"] = ["defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]] }
    },
    BadSpec(field: "linux.seccomp.defaultAction", message: "SCMP_ACT_NOTIFY is not supported") { s in
        s.change("linux") { $0["seccomp"] = ["defaultAction": "SCMP_ACT_NOTIFY"] }
    },
    BadSpec(field: "linux.resources.memory.limit", message: "expected a number, got a string") { s in
        s.change("linux") { $0["resources"] = ["memory": ["limit": "lots"]] }
    },
    BadSpec(field: "linux.resources.cpu.shares", message: "is outside 2...262144") { s in
        s.change("linux") { $0["resources"] = ["cpu": ["shares": 1]] }
    },
    BadSpec(field: "linux.resources.memory.swap", message: "below the memory limit") { s in
        s.change("linux") { $0["resources"] = ["memory": ["limit": 1_000_000, "swap": 500_000]] }
    },
    BadSpec(field: "linux.uidMappings", message: "a new user namespace needs uid mappings") { s in
        s.change("linux") { $0["namespaces"] = [["type": "mount"], ["type": "uts"], ["type": "user"]] }
    },
    BadSpec(field: "hostname", message: "without a private UTS namespace") { s in
        s["hostname"] = "box"
        s.change("linux") { $0["namespaces"] = [["type": "mount"]] }
    },
    BadSpec(field: "linux.sysctl[\"kernel.panic\"]", message: "is not in a separate kernel namespace") { s in
        s.change("linux") { $0["sysctl"] = ["kernel.panic": "1"] }
    },
    BadSpec(field: "linux.devices[0].type", message: "unknown device type \"x\"") { s in
        s.change("linux") { $0["devices"] = [["path": "/dev/x", "type": "x", "major": 1, "minor": 1]] }
    },
    BadSpec(field: "mounts[0].destination", message: "is required") { s in s["mounts"] = [["type": "tmpfs", "source": "tmpfs"]] },
    BadSpec(field: "hooks.prestart[0].timeout", message: "must be greater than zero") { s in
        s["hooks"] = ["prestart": [["path": "/bin/true", "timeout": 0]]]
    },
    BadSpec(field: "linux.rootfsPropagation", message: "unknown propagation") { s in s.change("linux") { $0["rootfsPropagation"] = "sideways" } },
    BadSpec(field: "linux.namespaces", message: "must include a mount namespace") { s in
        s.change("linux") { $0["namespaces"] = [["type": "pid"], ["type": "uts"]] }
    },
]

/// A small valid spec the bad specs start from (and that runs `true` in a busybox rootfs).
public func baseSpec() -> [String: Any] {
    [
        "ociVersion": "1.0.2",
        "process": ["args": ["true"], "env": ["PATH=/bin"], "cwd": "/", "user": ["uid": 0, "gid": 0]],
        "root": ["path": "rootfs"],
        "hostname": "base",
        "mounts": [["destination": "/proc", "type": "proc", "source": "proc"]],
        "linux": ["namespaces": [["type": "mount"], ["type": "pid"], ["type": "uts"], ["type": "ipc"]]],
    ]
}
