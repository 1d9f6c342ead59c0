import GuestJSON

/// `linux.resources`: cgroup limits. Values are kept as the spec gives them; `CgroupResources` turns
/// them into cgroup v2 (or v1) file writes with runc's conversions.
public struct ResourcesSpec: Sendable {
    public struct Memory: Sendable, Equatable {
        public var limit: Int64?
        public var reservation: Int64?
        public var swap: Int64?
        public var swappiness: UInt64?
        public var disableOOMKiller: Bool?
        public init() {}
    }

    public struct CPU: Sendable, Equatable {
        public var shares: UInt64?
        public var quota: Int64?
        public var burst: UInt64?
        public var period: UInt64?
        public var realtimeRuntime: Int64?
        public var realtimePeriod: UInt64?
        public var cpus: String?
        public var mems: String?
        public var idle: Int64?
        public init() {}
    }

    /// A per-device weight or rate (`blockIO.weightDevice`, `throttle*Device`).
    public struct DeviceValue: Sendable, Equatable {
        public var major: Int64
        public var minor: Int64
        public var value: UInt64
    }

    public struct BlockIO: Sendable, Equatable {
        public var weight: UInt16?
        public var leafWeight: UInt16?
        public var weightDevice: [DeviceValue] = []
        public var throttleReadBps: [DeviceValue] = []
        public var throttleWriteBps: [DeviceValue] = []
        public var throttleReadIOPS: [DeviceValue] = []
        public var throttleWriteIOPS: [DeviceValue] = []
        public init() {}
    }

    /// `linux.resources.devices[i]`: checked, but see `CgroupResources` for how it is applied.
    public struct DeviceRule: Sendable, Equatable {
        public var allow: Bool
        public var type: String
        public var major: Int64?
        public var minor: Int64?
        public var access: String

        public init(allow: Bool, type: String, major: Int64?, minor: Int64?, access: String) {
            self.allow = allow
            self.type = type
            self.major = major
            self.minor = minor
            self.access = access
        }
    }

    public var memory: Memory?
    public var cpu: CPU?
    public var pidsLimit: Int64?
    public var blockIO: BlockIO?
    public var hugepageLimits: [(pageSize: String, limit: UInt64)] = []
    public var unified: [(key: String, value: String)] = []
    public var devices: [DeviceRule] = []
    public var path: JSONPath

    public init(path: JSONPath = JSONPath()) { self.path = path }

    public init(_ field: JSONField) throws(SpecError) {
        let object = try field.object()
        path = object.path
        if let m = try object["memory"]?.object() {
            var memory = Memory()
            memory.limit = try m["limit"]?.int64()
            memory.reservation = try m["reservation"]?.int64()
            memory.swap = try m["swap"]?.int64()
            memory.swappiness = try m["swappiness"]?.uint64()
            memory.disableOOMKiller = try m["disableOOMKiller"]?.bool()
            if let swappiness = memory.swappiness, swappiness > 100 {
                throw SpecError(m.path.appending("swappiness"), "\(swappiness) is outside 0...100")
            }
            self.memory = memory
        }
        if let c = try object["cpu"]?.object() {
            var cpu = CPU()
            cpu.shares = try c["shares"]?.uint64()
            cpu.quota = try c["quota"]?.int64()
            cpu.burst = try c["burst"]?.uint64()
            cpu.period = try c["period"]?.uint64()
            cpu.realtimeRuntime = try c["realtimeRuntime"]?.int64()
            cpu.realtimePeriod = try c["realtimePeriod"]?.uint64()
            cpu.cpus = try c["cpus"]?.string()
            cpu.mems = try c["mems"]?.string()
            cpu.idle = try c["idle"]?.int64()
            if let period = cpu.period, period != 0, !(1000...1_000_000).contains(period) {
                throw SpecError(c.path.appending("period"), "\(period) is outside 1000...1000000 microseconds")
            }
            self.cpu = cpu
        }
        if let p = try object["pids"]?.object() {
            pidsLimit = try p.required("limit").int64()
        }
        if let b = try object["blockIO"]?.object() {
            var io = BlockIO()
            io.weight = try b["weight"]?.integer(UInt16.self)
            io.leafWeight = try b["leafWeight"]?.integer(UInt16.self)
            func devices(_ name: String, key: String) throws(SpecError) -> [DeviceValue] {
                var result: [DeviceValue] = []
                for element in try b[name]?.array() ?? [] {
                    let d = try element.object()
                    guard let value = try d[key]?.uint64() else { continue }
                    result.append(DeviceValue(major: try d.required("major").int64(), minor: try d.required("minor").int64(), value: value))
                }
                return result
            }
            io.weightDevice = try devices("weightDevice", key: "weight")
            io.throttleReadBps = try devices("throttleReadBpsDevice", key: "rate")
            io.throttleWriteBps = try devices("throttleWriteBpsDevice", key: "rate")
            io.throttleReadIOPS = try devices("throttleReadIOPSDevice", key: "rate")
            io.throttleWriteIOPS = try devices("throttleWriteIOPSDevice", key: "rate")
            for weight in [io.weight, io.leafWeight].compactMap({ $0 }) where weight != 0 && !(10...1000).contains(weight) {
                throw SpecError(b.path.appending("weight"), "\(weight) is outside 10...1000")
            }
            blockIO = io
        }
        for element in try object["hugepageLimits"]?.array() ?? [] {
            let h = try element.object()
            hugepageLimits.append((try h.required("pageSize").string(), try h.required("limit").uint64()))
        }
        unified = try object["unified"]?.stringMap() ?? []
        for (key, _) in unified where key.contains("/") || key.hasPrefix(".") || !key.contains(".") {
            throw SpecError(object.path.appending("unified").appending(key), "\"\(key)\" is not a cgroup file name")
        }
        for element in try object["devices"]?.array() ?? [] {
            let d = try element.object()
            let type = try d["type"]?.string() ?? "a"
            guard ["a", "b", "c"].contains(type) else {
                throw SpecError(d.path.appending("type"), "unknown device type \"\(type)\" (a, b or c)")
            }
            let access = try d["access"]?.string() ?? "rwm"
            guard !access.isEmpty, access.allSatisfy({ "rwm".contains($0) }) else {
                throw SpecError(d.path.appending("access"), "\"\(access)\" is not a combination of r, w and m")
            }
            devices.append(DeviceRule(allow: try d.required("allow").bool(), type: type,
                                      major: try d["major"]?.int64(), minor: try d["minor"]?.int64(), access: access))
        }
        // net_cls/net_prio (`network`) exist on cgroup v1 only; runc's v2 manager ignores them too.
        if object["rdma"] != nil { throw SpecError(object.path.appending("rdma"), "is not supported") }
    }
}
