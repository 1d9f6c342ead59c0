import GuestInit
import GuestSys
import Testing

@Suite struct MountPlanTests {
    private func entry(_ target: String, _ type: String) -> MountEntry {
        MountEntry(source: type, target: target, type: type, options: ["rw"])
    }

    @Test func everythingIsMissingOnAnEmptyTable() {
        #expect(MountPlan.missing(from: []) == MountPlan.basic)
    }

    @Test func kernelMountedDevIsKept() {
        // CONFIG_DEVTMPFS_MOUNT: the kernel mounts /dev itself before starting /sbin/init.
        let table = [entry("/", "ext4"), entry("/dev", "devtmpfs")]
        let missing = MountPlan.missing(from: table).map(\.target)
        #expect(!missing.contains("/dev"))
        #expect(missing.contains("/dev/pts"))
        #expect(missing.first == "/proc")
    }

    @Test func afterSwitchRootOnlyTheRestIsMounted() {
        let table = ["/", "/dev", "/dev/pts", "/dev/shm", "/proc", "/sys", "/sys/fs/cgroup", "/run"].map { entry($0, "x") }
        #expect(MountPlan.missing(from: table).isEmpty)
    }

    @Test func mountsAreSafeAndParentsComeFirst() {
        for (index, point) in MountPlan.basic.enumerated() {
            #expect(point.flags.contains(.noSetuid), "\(point)")
            // A mount's parent directory must be mounted before it (e.g. /dev before /dev/pts).
            for later in MountPlan.basic[(index + 1)...] {
                #expect(!point.target.hasPrefix(later.target + "/"), "\(point) comes before \(later)")
            }
        }
    }
}
