import GuestSys

/// A container's cgroup figures: CPU, memory, pids and I/O (cgroup v2 files; v1 where it has them).
public struct CgroupStats: Sendable, Equatable {
    public var cpuUsageMicroseconds: UInt64 = 0
    public var cpuUserMicroseconds: UInt64 = 0
    public var cpuSystemMicroseconds: UInt64 = 0
    public var cpuPeriods: UInt64 = 0
    public var cpuThrottledPeriods: UInt64 = 0
    public var cpuThrottledMicroseconds: UInt64 = 0
    public var memoryCurrent: UInt64 = 0
    /// nil when unlimited ("max").
    public var memoryMax: UInt64?
    public var memorySwapCurrent: UInt64 = 0
    /// memory.stat, key by key (anon, file, kernel_stack, …).
    public var memoryStat: [String: UInt64] = [:]
    public var memoryEvents: [String: UInt64] = [:]
    public var pidsCurrent: UInt64 = 0
    public var pidsMax: UInt64?
    /// io.stat per device "major:minor": rbytes, wbytes, rios, wios, …
    public var io: [(device: String, values: [String: UInt64])] = []

    public init() {}

    init(_ cgroup: ContainerCgroup) {
        func read(_ controller: String, _ file: String) -> String? {
            cgroup.directory(for: controller).flatMap { try? FileSystem.readText($0 + "/" + file) }
        }
        func number(_ text: String?) -> UInt64? { text.flatMap { UInt64($0.filter { !$0.isWhitespace }) } }
        switch cgroup.layout {
        case .unified:
            let cpu = Self.keyed(read("cpu", "cpu.stat") ?? "")
            cpuUsageMicroseconds = cpu["usage_usec"] ?? 0
            cpuUserMicroseconds = cpu["user_usec"] ?? 0
            cpuSystemMicroseconds = cpu["system_usec"] ?? 0
            cpuPeriods = cpu["nr_periods"] ?? 0
            cpuThrottledPeriods = cpu["nr_throttled"] ?? 0
            cpuThrottledMicroseconds = cpu["throttled_usec"] ?? 0
            memoryCurrent = number(read("memory", "memory.current")) ?? 0
            memoryMax = number(read("memory", "memory.max"))
            memorySwapCurrent = number(read("memory", "memory.swap.current")) ?? 0
            memoryStat = Self.keyed(read("memory", "memory.stat") ?? "")
            memoryEvents = Self.keyed(read("memory", "memory.events") ?? "")
            pidsCurrent = number(read("pids", "pids.current")) ?? UInt64(cgroup.processes().count)
            pidsMax = number(read("pids", "pids.max"))
            for line in (read("io", "io.stat") ?? "").split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard let device = fields.first else { continue }
                var values: [String: UInt64] = [:]
                for field in fields.dropFirst() {
                    let kv = field.split(separator: "=", maxSplits: 1)
                    if kv.count == 2, let v = UInt64(kv[1]) { values[String(kv[0])] = v }
                }
                io.append((String(device), values))
            }
        case .legacy:
            memoryCurrent = number(read("memory", "memory.usage_in_bytes")) ?? 0
            memoryMax = number(read("memory", "memory.limit_in_bytes"))
            memoryStat = Self.keyed(read("memory", "memory.stat") ?? "")
            pidsCurrent = number(read("pids", "pids.current")) ?? 0
            pidsMax = number(read("pids", "pids.max"))
            let cpu = Self.keyed(read("cpu", "cpu.stat") ?? "")
            cpuPeriods = cpu["nr_periods"] ?? 0
            cpuThrottledPeriods = cpu["nr_throttled"] ?? 0
            cpuThrottledMicroseconds = (cpu["throttled_time"] ?? 0) / 1000
        case .none:
            break
        }
    }

    /// "key value" lines (cpu.stat, memory.stat, memory.events) as a dictionary.
    public static func keyed(_ text: String) -> [String: UInt64] {
        var result: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, let value = UInt64(fields[1]) { result[String(fields[0])] = value }
        }
        return result
    }

    public static func == (a: CgroupStats, b: CgroupStats) -> Bool {
        a.cpuUsageMicroseconds == b.cpuUsageMicroseconds && a.memoryCurrent == b.memoryCurrent
            && a.memoryMax == b.memoryMax && a.pidsCurrent == b.pidsCurrent && a.memoryStat == b.memoryStat
            && a.memoryEvents == b.memoryEvents && a.pidsMax == b.pidsMax && a.io.count == b.io.count
    }
}
