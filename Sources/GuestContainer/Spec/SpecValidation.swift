import GuestJSON

/// Rules that span fields (runc's libcontainer/configs/validate, plus what GuestKit cannot do).
enum SpecValidation {
    /// sysctls that belong to the IPC namespace (runc's list, plus fs.mqueue.*).
    static let ipcSysctls: Set<String> = [
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
        "kernel.shmmni", "kernel.shm_rmid_forced",
    ]

    static func check(_ spec: RuntimeSpec, path: JSONPath) throws(SpecError) {
        let linux = spec.linux
        func has(_ kind: NamespaceKind) -> Bool { linux.namespace(kind) != nil }
        if let hostname = spec.hostname, !hostname.isEmpty, !has(.uts) {
            throw SpecError(path.appending("hostname"), "cannot be set without a private UTS namespace (add {\"type\": \"uts\"} to linux.namespaces)")
        }
        if let domainname = spec.domainname, !domainname.isEmpty, !has(.uts) {
            throw SpecError(path.appending("domainname"), "cannot be set without a private UTS namespace (add {\"type\": \"uts\"} to linux.namespaces)")
        }
        if !has(.mount) {
            if !linux.maskedPaths.isEmpty {
                throw SpecError(linux.path.appending("maskedPaths"), "needs a private mount namespace (add {\"type\": \"mount\"} to linux.namespaces)")
            }
            if !linux.readonlyPaths.isEmpty {
                throw SpecError(linux.path.appending("readonlyPaths"), "needs a private mount namespace (add {\"type\": \"mount\"} to linux.namespaces)")
            }
        }
        if let user = linux.namespace(.user) {
            if user.path == nil {
                if linux.uidMappings.isEmpty {
                    throw SpecError(linux.path.appending("uidMappings"), "a new user namespace needs uid mappings")
                }
                if linux.gidMappings.isEmpty {
                    throw SpecError(linux.path.appending("gidMappings"), "a new user namespace needs gid mappings")
                }
            } else if !linux.uidMappings.isEmpty || !linux.gidMappings.isEmpty {
                throw SpecError(linux.path.appending("uidMappings"), "cannot be given with a user namespace path to join")
            }
            if linux.uidMappings.count > 340 || linux.gidMappings.count > 340 {
                throw SpecError(linux.path.appending("uidMappings"), "more than 340 lines (the kernel's limit)")
            }
        } else {
            if !linux.uidMappings.isEmpty {
                throw SpecError(linux.path.appending("uidMappings"), "given without a user namespace (add {\"type\": \"user\"} to linux.namespaces)")
            }
            if !linux.gidMappings.isEmpty {
                throw SpecError(linux.path.appending("gidMappings"), "given without a user namespace (add {\"type\": \"user\"} to linux.namespaces)")
            }
        }
        for (key, _) in linux.sysctl {
            let name = dotted(key)
            let field = linux.path.appending("sysctl").appending(key)
            if ipcSysctls.contains(name) || name.hasPrefix("fs.mqueue.") {
                guard has(.ipc) else { throw SpecError(field, "is not allowed in the guest's IPC namespace (add an ipc namespace)") }
                continue
            }
            if name.hasPrefix("net.") {
                guard has(.network) else { throw SpecError(field, "is not allowed in the guest's network namespace (add a network namespace)") }
                continue
            }
            if has(.uts) {
                if name == "kernel.domainname" { continue }
                if name == "kernel.hostname" { throw SpecError(field, "conflicts with the \"hostname\" field; set that instead") }
            }
            throw SpecError(field, "is not in a separate kernel namespace")
        }
    }

    /// runc's convertSysctlVariableToDotsSeparator: "net/ipv4/ip_forward" → "net.ipv4.ip_forward".
    static func dotted(_ key: String) -> String {
        guard let first = key.firstIndex(where: { $0 == "." || $0 == "/" }), key[first] == "/" else { return key }
        return String(key.map { $0 == "/" ? "." : $0 == "." ? "/" : $0 })
    }
}
