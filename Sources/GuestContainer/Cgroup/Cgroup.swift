import GuestSys

/// How this machine mounts cgroups: the v2 unified hierarchy (the guest), v1 hierarchies per controller
/// (this CI host), or none.
public enum CgroupLayout: Sendable, Equatable {
    case unified(root: String)
    /// Controller name → its hierarchy's mount point (cpu may share one with cpuacct).
    case legacy([String: String])
    case none

    /// The v1 controllers GuestKit places containers in when there is no v2 hierarchy.
    public static let legacyControllers = ["memory", "pids", "cpu", "freezer"]

    /// Reads /proc/self/mountinfo: cgroup2 on /sys/fs/cgroup wins; otherwise the v1 hierarchies.
    public static func detect(mountinfo: String? = nil) -> CgroupLayout {
        let text = mountinfo ?? (try? FileSystem.readText("/proc/self/mountinfo")) ?? ""
        var legacy: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let entry = MountInfoEntry(line: String(line)) else { continue }
            if entry.type == "cgroup2" && entry.mountPoint == "/sys/fs/cgroup" { return .unified(root: entry.mountPoint) }
            if entry.type == "cgroup" {
                for option in entry.superOptions where legacyControllers.contains(option) {
                    legacy[option] = entry.mountPoint
                }
            }
        }
        return legacy.isEmpty ? .none : .legacy(legacy)
    }
}

/// A container's cgroup: created with parents (controllers enabled on the way down), resources written,
/// processes added, frozen, killed, measured, removed. On cgroup v1 the same path is used in each of the
/// memory, pids, cpu and freezer hierarchies.
public final class ContainerCgroup: Sendable {
    public let layout: CgroupLayout
    /// Absolute within the hierarchy, e.g. "/guestkit/c1".
    public let path: String

    public init(layout: CgroupLayout, path: String) {
        self.layout = layout
        self.path = CgroupPath.clean(path)
    }

    /// The directories of this cgroup (one on v2, one per controller on v1).
    public var directories: [(controller: String, path: String)] {
        switch layout {
        case .unified(let root): return [("", root + path)]
        case .legacy(let mounts):
            return CgroupLayout.legacyControllers.compactMap { c in mounts[c].map { (c, $0 + path) } }
        case .none: return []
        }
    }

    /// The v2 directory; nil on v1 or without cgroups.
    public var unifiedDirectory: String? {
        if case .unified(let root) = layout { return root + path }
        return nil
    }

    func directory(for controller: String) -> String? {
        switch layout {
        case .unified(let root): return root + path
        case .legacy(let mounts): return mounts[controller].map { $0 + path }
        case .none: return nil
        }
    }

    /// mkdir -p; on v2 every available controller is enabled in each ancestor's subtree_control (runc's
    /// CreateCgroupPath). An existing cgroup with processes in it is refused.
    public func create() throws(ContainerError) {
        switch layout {
        case .none:
            return
        case .unified(let root):
            let controllers = (try? FileSystem.readText(root + "/cgroup.controllers"))?
                .split(whereSeparator: { $0 == " " || $0 == "\n" }).map { "+" + $0 }.joined(separator: " ") ?? ""
            var current = root
            let parts = path.split(separator: "/")
            for (i, part) in parts.enumerated() {
                if !controllers.isEmpty {
                    // All at once; where the kernel refuses the set, one at a time (an unavailable one fails alone).
                    if (try? FileSystem.writeFile(current + "/cgroup.subtree_control", controllers)) == nil {
                        for controller in controllers.split(separator: " ") {
                            try? FileSystem.writeFile(current + "/cgroup.subtree_control", String(controller))
                        }
                    }
                }
                current += "/" + part
                do throws(SysError) {
                    try FileSystem.makeDirectory(current)
                } catch where error.code == Errno.EEXIST {
                    if i == parts.count - 1, !processes().isEmpty {
                        throw ContainerError.failed("cgroup \(current) already has processes in it; use another linux.cgroupsPath")
                    }
                } catch {
                    throw ContainerError.step("create cgroup \(current)", error)
                }
            }
        case .legacy:
            for (_, directory) in directories {
                do throws(SysError) {
                    try FileSystem.makeDirectories(directory)
                } catch {
                    throw ContainerError.step("create cgroup \(directory)", error)
                }
            }
        }
    }

    /// Writes the spec's resources (runc's order and conversions). On v1, writes for hierarchies this
    /// machine lacks are skipped.
    public func apply(_ resources: ResourcesSpec) throws(ContainerError) {
        let writes: [CgroupWrite]
        do throws(SpecError) {
            switch layout {
            case .none: return
            case .unified(let root):
                writes = try CgroupResourceFiles.unified(resources, bfq: FileSystem.exists(root + path + "/io.bfq.weight"))
            case .legacy: writes = try CgroupResourceFiles.legacy(resources)
            }
        } catch {
            throw ContainerError.invalidSpec(error)
        }
        var deferred: [CgroupWrite] = []
        for write in writes {
            guard let directory = directory(for: write.controller) else { continue }
            do throws(SysError) {
                try FileSystem.writeFile(directory + "/" + write.file, write.value)
            } catch where error.code == Errno.EINVAL && write.file == "memory.limit_in_bytes"
                        && writes.contains(where: { $0.file == "memory.memsw.limit_in_bytes" }) {
                // v1 keeps memory ≤ memory+swap: raising both needs memsw first (runc's order too).
                deferred.append(write)
            } catch {
                if error.code == Errno.ENOENT || error.code == Errno.EACCES {
                    throw ContainerError.failed("cgroup \(directory): no \(write.file) (is the \(write.controller) controller enabled in the kernel and its parents?)")
                }
                throw ContainerError.step("write \(write.value) to \(directory)/\(write.file)", error)
            }
        }
        for write in deferred {
            guard let directory = directory(for: write.controller) else { continue }
            do throws(SysError) { try FileSystem.writeFile(directory + "/" + write.file, write.value) } catch {
                throw ContainerError.step("write \(write.value) to \(directory)/\(write.file)", error)
            }
        }
    }

    /// Moves a process into the cgroup (every hierarchy on v1).
    public func add(_ pid: Int32) throws(ContainerError) {
        for (_, directory) in directories {
            do throws(SysError) {
                try FileSystem.writeFile(directory + "/cgroup.procs", String(pid))
            } catch {
                throw ContainerError.step("add pid \(pid) to cgroup \(directory)", error)
            }
        }
    }

    /// The pids in the cgroup (the first hierarchy on v1: every one holds the same processes).
    public func processes() -> [Int32] {
        guard let directory = directories.first?.path,
              let text = try? FileSystem.readText(directory + "/cgroup.procs") else { return [] }
        return text.split(separator: "\n").compactMap { Int32($0) }
    }

    /// Freezes (true) or thaws: cgroup.freeze on v2, freezer.state on v1.
    public func setFrozen(_ frozen: Bool) throws(ContainerError) {
        do throws(SysError) {
            switch layout {
            case .unified(let root): try FileSystem.writeFile(root + path + "/cgroup.freeze", frozen ? "1" : "0")
            case .legacy(let mounts):
                guard let mount = mounts["freezer"] else { throw SysError("open", ["freezer hierarchy"], code: Errno.ENOENT) }
                try FileSystem.writeFile(mount + path + "/freezer.state", frozen ? "FROZEN" : "THAWED")
            case .none: throw SysError("open", ["cgroup.freeze"], code: Errno.ENOENT)
            }
        } catch {
            throw ContainerError.step(frozen ? "freeze cgroup \(path)" : "thaw cgroup \(path)", error)
        }
    }

    /// Whether the cgroup is (completely) frozen.
    public var isFrozen: Bool {
        switch layout {
        case .unified(let root):
            let events = (try? FileSystem.readText(root + path + "/cgroup.events")) ?? ""
            return events.split(separator: "\n").contains("frozen 1")
        case .legacy(let mounts):
            guard let mount = mounts["freezer"] else { return false }
            return (try? FileSystem.readText(mount + path + "/freezer.state"))?.hasPrefix("FROZEN") ?? false
        case .none: return false
        }
    }

    /// SIGKILL to every process in the cgroup, including those that left the container's session or
    /// process group: cgroup.kill on v2; on v1 freeze, signal each pid, thaw.
    public func killAll() throws(ContainerError) {
        if let directory = unifiedDirectory, FileSystem.exists(directory + "/cgroup.kill") {
            do throws(SysError) {
                try FileSystem.writeFile(directory + "/cgroup.kill", "1")
            } catch {
                throw ContainerError.step("write 1 to \(directory)/cgroup.kill", error)
            }
            return
        }
        try signalAll(Signal.kill)
    }

    /// A signal to every process in the cgroup, frozen while it is sent so none can fork past it.
    public func signalAll(_ signal: Int32) throws(ContainerError) {
        let canFreeze = (try? setFrozen(true)) != nil
        for pid in processes() { try? Processes.signal(pid, signal) }
        if canFreeze { try? setFrozen(false) }
    }

    /// How many processes the kernel's OOM killer ended in this cgroup (memory.events oom_kill on v2,
    /// memory.oom_control oom_kill on v1).
    public var oomKillCount: UInt64 {
        let file: String
        switch layout {
        case .unified(let root): file = root + path + "/memory.events"
        case .legacy(let mounts):
            guard let mount = mounts["memory"] else { return 0 }
            file = mount + path + "/memory.oom_control"
        case .none: return 0
        }
        return CgroupStats.keyed((try? FileSystem.readText(file)) ?? "")["oom_kill"] ?? 0
    }

    /// The file whose EPOLLPRI says memory events changed (v2 only).
    public var memoryEventsFile: String? { unifiedDirectory.map { $0 + "/memory.events" } }

    /// rmdir in every hierarchy (EBUSY while processes remain); a missing directory counts as removed.
    public func remove() throws(ContainerError) {
        for (_, directory) in directories {
            do throws(SysError) {
                try FileSystem.removeDirectory(directory)
            } catch where error.code == Errno.ENOENT {
                continue
            } catch {
                throw ContainerError.step("remove cgroup \(directory)", error)
            }
        }
    }

    public func stats() -> CgroupStats { CgroupStats(self) }
}

/// Cgroup paths: absolute, cleaned like runc's utils.CleanPath (no way above the root).
public enum CgroupPath {
    public static func clean(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." {
                if !parts.isEmpty { parts.removeLast() }
                continue
            }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// `linux.cgroupsPath`, or `/guestkit/<id>` when the spec gives none. Relative paths are taken from
    /// the hierarchy's root.
    public static func forContainer(id: String, spec: String?) -> String {
        guard let spec, !spec.isEmpty else { return "/guestkit/" + id }
        return clean(spec)
    }
}
