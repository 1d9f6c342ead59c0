import GuestContainer
import GuestSys

/// Keeps the agent alive when a container exhausts the guest's memory: guest-init and the agent move into
/// a cgroup of their own with a memory floor (so reclaim takes from the containers first), and the
/// agent's oom_score_adj is -1000 (the OOM killer never picks it; guest-init, PID 1, it never picks
/// anyway). What the agent starts outside containers goes to a sibling cgroup without the floor. Only in a
/// guest (started by guest-init as PID 1's child) on cgroup v2; failures are logged.
enum AgentProtection {
    static let cgroup = "/sys/fs/cgroup/guestkit-agent"
    /// Where the processes the agent starts (StartProcess) move before they exec: the floor stays the agent's.
    static let processesCgroup = "/sys/fs/cgroup/guestkit-processes"
    /// memory.min: never reclaimed below this; memory.low: reclaimed last.
    static let memoryMin = 16 << 20
    static let memoryLow = 32 << 20

    /// Returns the processes cgroup's `cgroup.procs`, open for the spawner; nil where there is none.
    static func apply() -> FileDescriptor? {
        do throws(SysError) {
            try FileSystem.writeFile("/proc/self/oom_score_adj", "-1000")
        } catch {
            AgentLog.error("cannot set the agent's oom_score_adj to -1000: \(error)")
        }
        guard case .unified = CgroupLayout.detect() else { return nil }
        do throws(SysError) {
            if !FileSystem.isDirectory(cgroup) { try FileSystem.makeDirectory(cgroup) }
            try? FileSystem.writeFile("/sys/fs/cgroup/cgroup.subtree_control", "+memory")
            try FileSystem.writeFile(cgroup + "/memory.min", String(memoryMin))
            try FileSystem.writeFile(cgroup + "/memory.low", String(memoryLow))
            try FileSystem.writeFile(cgroup + "/cgroup.procs", "1")
            try FileSystem.writeFile(cgroup + "/cgroup.procs", String(Processes.currentID))
        } catch {
            AgentLog.error("cannot put guest-init and the agent in \(cgroup) with a memory floor: \(error)")
        }
        do throws(SysError) {
            if !FileSystem.isDirectory(processesCgroup) { try FileSystem.makeDirectory(processesCgroup) }
            return try FileDescriptor.open(processesCgroup + "/cgroup.procs", .writeOnly)
        } catch {
            AgentLog.error("cannot prepare \(processesCgroup) for the processes the agent starts (they stay in \(cgroup)): \(error)")
            return nil
        }
    }
}
