import ContainerdProto
import GuestProto
import SwiftProtobuf

/// The guest's cgroup v2 figures as containerd's `io.containerd.cgroups.v2.Metrics`, the type `ctr task
/// metrics` decodes for a cgroup v2 task. memory.stat keys map to the fields of the same name.
enum CgroupMetrics {
    static let typeURL = "io.containerd.cgroups.v2.Metrics"

    static func metrics(from stats: Guestkit_V1_ContainerStatsResponse) -> Io_Containerd_Cgroups_V2_Metrics {
        var metrics = Io_Containerd_Cgroups_V2_Metrics()
        metrics.pids.current = stats.pidsCurrent
        metrics.pids.limit = stats.pidsMax
        metrics.cpu.usageUsec = stats.cpuUsageUsec
        metrics.cpu.userUsec = stats.cpuUserUsec
        metrics.cpu.systemUsec = stats.cpuSystemUsec
        metrics.cpu.nrPeriods = stats.cpuPeriods
        metrics.cpu.nrThrottled = stats.cpuThrottledPeriods
        metrics.cpu.throttledUsec = stats.cpuThrottledUsec

        var memory = Io_Containerd_Cgroups_V2_MemoryStat()
        let stat = stats.memoryStat
        memory.anon = stat["anon"] ?? 0
        memory.file = stat["file"] ?? 0
        memory.kernelStack = stat["kernel_stack"] ?? 0
        memory.slab = stat["slab"] ?? 0
        memory.sock = stat["sock"] ?? 0
        memory.shmem = stat["shmem"] ?? 0
        memory.fileMapped = stat["file_mapped"] ?? 0
        memory.fileDirty = stat["file_dirty"] ?? 0
        memory.fileWriteback = stat["file_writeback"] ?? 0
        memory.anonThp = stat["anon_thp"] ?? 0
        memory.inactiveAnon = stat["inactive_anon"] ?? 0
        memory.activeAnon = stat["active_anon"] ?? 0
        memory.inactiveFile = stat["inactive_file"] ?? 0
        memory.activeFile = stat["active_file"] ?? 0
        memory.unevictable = stat["unevictable"] ?? 0
        memory.slabReclaimable = stat["slab_reclaimable"] ?? 0
        memory.slabUnreclaimable = stat["slab_unreclaimable"] ?? 0
        memory.pgfault = stat["pgfault"] ?? 0
        memory.pgmajfault = stat["pgmajfault"] ?? 0
        memory.workingsetRefault = stat["workingset_refault"] ?? stat["workingset_refault_file"] ?? 0
        memory.workingsetActivate = stat["workingset_activate"] ?? stat["workingset_activate_file"] ?? 0
        memory.workingsetNodereclaim = stat["workingset_nodereclaim"] ?? 0
        memory.pgrefill = stat["pgrefill"] ?? 0
        memory.pgscan = stat["pgscan"] ?? 0
        memory.pgsteal = stat["pgsteal"] ?? 0
        memory.pgactivate = stat["pgactivate"] ?? 0
        memory.pgdeactivate = stat["pgdeactivate"] ?? 0
        memory.pglazyfree = stat["pglazyfree"] ?? 0
        memory.pglazyfreed = stat["pglazyfreed"] ?? 0
        memory.thpFaultAlloc = stat["thp_fault_alloc"] ?? 0
        memory.thpCollapseAlloc = stat["thp_collapse_alloc"] ?? 0
        memory.usage = stats.memoryCurrent
        memory.usageLimit = stats.memoryMax
        memory.swapUsage = stats.memorySwapCurrent
        metrics.memory = memory

        let events = stats.memoryEvents
        metrics.memoryEvents.low = events["low"] ?? 0
        metrics.memoryEvents.high = events["high"] ?? 0
        metrics.memoryEvents.max = events["max"] ?? 0
        metrics.memoryEvents.oom = events["oom"] ?? 0
        metrics.memoryEvents.oomKill = events["oom_kill"] ?? 0

        metrics.io.usage = stats.io.map { entry in
            var io = Io_Containerd_Cgroups_V2_IOEntry()
            let numbers = entry.device.split(separator: ":")
            if numbers.count == 2 {
                io.major = UInt64(numbers[0]) ?? 0
                io.minor = UInt64(numbers[1]) ?? 0
            }
            io.rbytes = entry.readBytes
            io.wbytes = entry.writeBytes
            io.rios = entry.readIos
            io.wios = entry.writeIos
            return io
        }
        return metrics
    }

    static func any(from stats: Guestkit_V1_ContainerStatsResponse) throws(ShimError) -> Google_Protobuf_Any {
        var any = Google_Protobuf_Any()
        any.typeURL = typeURL
        do {
            any.value = try metrics(from: stats).serializedData()
        } catch {
            throw .system("cannot encode the metrics: \(error)")
        }
        return any
    }
}
