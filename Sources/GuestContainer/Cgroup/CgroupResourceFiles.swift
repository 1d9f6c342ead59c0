import GuestJSON

/// One write into a cgroup directory: `value` into `file` (under `controller`'s hierarchy on cgroup v1).
public struct CgroupWrite: Sendable, Equatable, CustomStringConvertible {
    public var controller: String
    public var file: String
    public var value: String

    public init(_ controller: String, _ file: String, _ value: String) {
        self.controller = controller
        self.file = file
        self.value = value
    }

    public var description: String { "\(file)=\(value)" }
}

/// `linux.resources` as cgroup file writes, with runc's conversions. Pure: tests check every row.
public enum CgroupResourceFiles {
    /// runc's numToStr: 0 means unset, -1 means "max".
    static func limit(_ value: Int64?) -> String? {
        switch value {
        case nil, 0: return nil
        case -1: return "max"
        case let v?: return String(v)
        }
    }

    /// cpu.shares (cgroup v1, 2…262144) → cpu.weight (1…10000): 1 + ((shares - 2) * 9999) / 262142.
    public static func weight(shares: UInt64) -> UInt64 {
        shares == 0 ? 0 : 1 + ((shares - 2) * 9999) / 262_142
    }

    /// blkio.weight (10…1000) → io.weight (1…10000): 1 + (weight - 10) * 9999 / 990.
    public static func ioWeight(blkioWeight: UInt16) -> UInt64 {
        blkioWeight == 0 ? 0 : 1 + (UInt64(blkioWeight) - 10) * 9999 / 990
    }

    /// memory.swap.max from the spec's memory+swap total, as runc computes it (ConvertMemorySwapToCgroupV2Value):
    /// nil = leave alone, -1 = "max", else swap alone (total - memory).
    public static func swapMax(swap: Int64?, memory: Int64?, path: JSONPath) throws(SpecError) -> Int64? {
        let swap = swap ?? 0, memory = memory ?? 0
        if memory == -1 && swap == 0 { return -1 }
        if swap == -1 { return -1 }
        if swap == 0 { return nil }
        guard memory != 0 && memory != -1 else {
            throw SpecError(path.appending("swap"), "cannot limit swap without a memory limit")
        }
        guard memory > 0 else { throw SpecError(path.appending("limit"), "\(memory) is not a memory limit") }
        guard swap >= memory else {
            throw SpecError(path.appending("swap"), "memory+swap limit \(swap) is below the memory limit \(memory)")
        }
        return swap - memory
    }

    /// Checks what no cgroup version can take, so Create fails with the field named before anything starts.
    public static func check(_ r: ResourcesSpec) throws(SpecError) {
        if let shares = r.cpu?.shares, shares != 0, !(2...262_144).contains(shares) {
            throw SpecError(r.path.appending("cpu").appending("shares"), "\(shares) is outside 2...262144")
        }
        if let memory = r.memory {
            _ = try swapMax(swap: memory.swap, memory: memory.limit, path: r.path.appending("memory"))
            for (name, value) in [("limit", memory.limit), ("reservation", memory.reservation)] {
                if let value, value < -1 { throw SpecError(r.path.appending("memory").appending(name), "\(value) is not a byte count or -1") }
            }
        }
        if let limit = r.pidsLimit, limit < -1 {
            throw SpecError(r.path.appending("pids").appending("limit"), "\(limit) is not a process count or -1")
        }
    }

    /// cgroup v2 writes in runc's order: pids, memory, io, cpu, cpuset, hugetlb, then `unified` (which may
    /// override any of them). `bfq` says whether io.bfq.weight exists (then blockIO.weight goes there as is).
    public static func unified(_ r: ResourcesSpec, bfq: Bool = false) throws(SpecError) -> [CgroupWrite] {
        try check(r)
        var writes: [CgroupWrite] = []
        func add(_ file: String, _ value: String) {
            writes.append(CgroupWrite(String(file.prefix { $0 != "." }), file, value))
        }
        if let pids = limit(r.pidsLimit) { add("pids.max", pids) }
        if let m = r.memory {
            if let swap = try swapMax(swap: m.swap, memory: m.limit, path: r.path.appending("memory")) {
                add("memory.swap.max", swap == -1 ? "max" : String(swap))
            }
            if let max = limit(m.limit) { add("memory.max", max) }
            if let low = limit(m.reservation) { add("memory.low", low) }
        }
        if let io = r.blockIO {
            if let weight = io.weight, weight != 0 {
                if bfq {
                    add("io.bfq.weight", String(weight))
                } else {
                    add("io.weight", String(ioWeight(blkioWeight: weight)))
                }
            }
            if bfq {
                for device in io.weightDevice { add("io.bfq.weight", "\(device.major):\(device.minor) \(device.value)") }
            }
            for (key, list) in [("rbps", io.throttleReadBps), ("wbps", io.throttleWriteBps),
                                ("riops", io.throttleReadIOPS), ("wiops", io.throttleWriteIOPS)] {
                for device in list { add("io.max", "\(device.major):\(device.minor) \(key)=\(device.value)") }
            }
        }
        if let c = r.cpu {
            if let shares = c.shares, shares != 0 { add("cpu.weight", String(weight(shares: shares))) }
            if (c.quota ?? 0) != 0 || (c.period ?? 0) != 0 {
                let quota = (c.quota ?? 0) > 0 ? String(c.quota ?? 0) : "max"
                let period = (c.period ?? 0) == 0 ? 100_000 : (c.period ?? 0)
                add("cpu.max", "\(quota) \(period)")
            }
            if let burst = c.burst { add("cpu.max.burst", String(burst)) }
            if let idle = c.idle { add("cpu.idle", String(idle)) }
            if let cpus = c.cpus, !cpus.isEmpty { add("cpuset.cpus", cpus) }
            if let mems = c.mems, !mems.isEmpty { add("cpuset.mems", mems) }
        }
        for page in r.hugepageLimits { add("hugetlb.\(page.pageSize).max", String(page.limit)) }
        for (key, value) in r.unified { add(key, value) }
        return writes
    }

    /// cgroup v1 writes for the hierarchies GuestKit uses natively (memory, pids, cpu); the others are
    /// left alone with a warning by the caller.
    public static func legacy(_ r: ResourcesSpec) throws(SpecError) -> [CgroupWrite] {
        try check(r)
        if !r.unified.isEmpty {
            throw SpecError(r.path.appending("unified"), "needs cgroup v2, and this machine mounts cgroup v1")
        }
        var writes: [CgroupWrite] = []
        if let pids = limit(r.pidsLimit) { writes.append(CgroupWrite("pids", "pids.max", pids)) }
        if let m = r.memory {
            if let max = m.limit, max != 0 { writes.append(CgroupWrite("memory", "memory.limit_in_bytes", String(max))) }
            if let swap = m.swap, swap != 0 { writes.append(CgroupWrite("memory", "memory.memsw.limit_in_bytes", String(swap))) }
            if let low = m.reservation, low != 0 { writes.append(CgroupWrite("memory", "memory.soft_limit_in_bytes", String(low))) }
            if let swappiness = m.swappiness { writes.append(CgroupWrite("memory", "memory.swappiness", String(swappiness))) }
            if m.disableOOMKiller == true { writes.append(CgroupWrite("memory", "memory.oom_control", "1")) }
        }
        if let c = r.cpu {
            if let shares = c.shares, shares != 0 { writes.append(CgroupWrite("cpu", "cpu.shares", String(shares))) }
            if let period = c.period, period != 0 { writes.append(CgroupWrite("cpu", "cpu.cfs_period_us", String(period))) }
            if let quota = c.quota, quota != 0 { writes.append(CgroupWrite("cpu", "cpu.cfs_quota_us", String(quota))) }
        }
        return writes
    }
}
