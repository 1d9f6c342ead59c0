import GuestContainer
import GuestJSON
import Testing

@Suite struct CgroupResourceFilesTests {
    static func resources(_ json: String) throws -> ResourcesSpec {
        try ResourcesSpec(JSONField(try JSONValue.parse(json), path: JSONPath([.member("linux"), .member("resources")])))
    }

    @Test(arguments: [(UInt64(2), UInt64(1)), (1024, 39), (512, 20), (262_144, 10000), (100, 4)])
    func convertsSharesToWeight(shares: UInt64, weight: UInt64) {
        #expect(CgroupResourceFiles.weight(shares: shares) == weight)
    }

    @Test(arguments: [(UInt16(10), UInt64(1)), (500, 4950), (1000, 10000), (100, 910)])
    func convertsBlkioWeight(blkio: UInt16, io: UInt64) {
        #expect(CgroupResourceFiles.ioWeight(blkioWeight: blkio) == io)
    }

    @Test(arguments: [
        // memory.limit, memory.swap (total) → memory.swap.max (nil: not written)
        (Int64?.some(100), Int64?.some(300), Int64?.some(200)),
        (100, 100, 0),
        (-1, nil, -1),
        (-1, 0, -1),
        (100, -1, -1),
        (100, nil, nil),
        (nil, nil, nil),
    ])
    func computesSwapAsRuncDoes(limit: Int64?, swap: Int64?, expected: Int64?) throws {
        #expect(try CgroupResourceFiles.swapMax(swap: swap, memory: limit, path: JSONPath()) == expected)
    }

    @Test(arguments: [
        (#"{"memory":{"limit":1048576,"reservation":524288,"swap":2097152}}"#,
         ["memory.swap.max=1048576", "memory.max=1048576", "memory.low=524288"]),
        (#"{"memory":{"limit":-1}}"#, ["memory.swap.max=max", "memory.max=max"]),
        (#"{"memory":{"limit":1000,"swap":1000}}"#, ["memory.swap.max=0", "memory.max=1000"]),
        (#"{"cpu":{"shares":1024,"quota":50000,"period":100000}}"#, ["cpu.weight=39", "cpu.max=50000 100000"]),
        (#"{"cpu":{"quota":-1}}"#, ["cpu.max=max 100000"]),
        (#"{"cpu":{"period":250000}}"#, ["cpu.max=max 250000"]),
        (#"{"cpu":{"cpus":"0-1","mems":"0"}}"#, ["cpuset.cpus=0-1", "cpuset.mems=0"]),
        (#"{"pids":{"limit":-1}}"#, ["pids.max=max"]),
        (#"{"pids":{"limit":0}}"#, []),
        (#"{"pids":{"limit":64},"memory":{"limit":4096}}"#, ["pids.max=64", "memory.max=4096"]),
        (#"{"blockIO":{"weight":500,"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1000}]}}"#,
         ["io.weight=4950", "io.max=8:0 rbps=1000"]),
        (#"{"unified":{"memory.high":"50000","cpu.max":"1000 100000"},"cpu":{"quota":5}}"#,
         ["cpu.max=5 100000", "memory.high=50000", "cpu.max=1000 100000"]),
    ])
    func writesRuncsFilesInRuncsOrder(json: String, writes: [String]) throws {
        #expect(try CgroupResourceFiles.unified(try Self.resources(json)).map(\.description) == writes)
    }

    @Test func bfqTakesTheWeightAsIs() throws {
        let writes = try CgroupResourceFiles.unified(try Self.resources(#"{"blockIO":{"weight":300,"weightDevice":[{"major":8,"minor":0,"weight":200}]}}"#), bfq: true)
        #expect(writes.map(\.description) == ["io.bfq.weight=300", "io.bfq.weight=8:0 200"])
    }

    @Test func legacyHierarchiesGetTheirOwnFiles() throws {
        let writes = try CgroupResourceFiles.legacy(try Self.resources(#"{"memory":{"limit":4096,"swap":8192},"cpu":{"shares":512,"quota":1000,"period":10000},"pids":{"limit":5}}"#))
        #expect(writes.map { "\($0.controller)/\($0)" } == ["pids/pids.max=5", "memory/memory.limit_in_bytes=4096", "memory/memory.memsw.limit_in_bytes=8192",
                                                            "cpu/cpu.shares=512", "cpu/cpu.cfs_period_us=10000", "cpu/cpu.cfs_quota_us=1000"])
        #expect(throws: SpecError.self) { try CgroupResourceFiles.legacy(try Self.resources(#"{"unified":{"memory.high":"1"}}"#)) }
    }

    @Test(arguments: [
        (#"{"cpu":{"shares":1}}"#, "linux.resources.cpu.shares"),
        (#"{"cpu":{"shares":300000}}"#, "linux.resources.cpu.shares"),
        (#"{"memory":{"swap":100}}"#, "linux.resources.memory.swap"),
        (#"{"memory":{"limit":-5}}"#, "linux.resources.memory.limit"),
        (#"{"pids":{"limit":-2}}"#, "linux.resources.pids.limit"),
    ])
    func refusesWhatNoCgroupTakes(json: String, field: String) throws {
        let resources = try Self.resources(json)
        do throws(SpecError) {
            _ = try CgroupResourceFiles.unified(resources)
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.path.description == field, "\(error)")
        }
    }

    @Test func readsKeyedFiles() {
        #expect(CgroupStats.keyed("low 0\nhigh 2\noom 1\noom_kill 1\nbad line here\n") == ["low": 0, "high": 2, "oom": 1, "oom_kill": 1])
    }

    @Test func detectsLayouts() {
        let unified = "25 1 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw\n"
        #expect(CgroupLayout.detect(mountinfo: unified) == .unified(root: "/sys/fs/cgroup"))
        let legacy = """
            31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
            32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
            35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            """
        #expect(CgroupLayout.detect(mountinfo: legacy) == .legacy(["cpu": "/sys/fs/cgroup/cpu", "memory": "/sys/fs/cgroup/memory"]))
        #expect(CgroupLayout.detect(mountinfo: "") == .none)
    }
}
