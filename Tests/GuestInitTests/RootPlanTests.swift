import GuestInit
import GuestSys
import Testing

@Suite struct RootPlanTests {
    static let ext4Magic: Int64 = 0xEF53
    static let tmpfsMagic: Int64 = 0x0102_1994
    static let ramfsMagic: Int64 = 0x8584_58F6

    @Test(arguments: [
        (ext4Magic, RootSpec?.some(.label("guestroot")), Confinement.machine, RootPlan.kernelMounted),
        (ext4Magic, nil, .machine, .kernelMounted),
        (tmpfsMagic, .label("guestroot"), .machine, .switchFromInitramfs(.label("guestroot"))),
        (ramfsMagic, .path("/dev/pmem0"), .machine, .switchFromInitramfs(.path("/dev/pmem0"))),
        (ramfsMagic, nil, .machine, .stayInInitramfs),
        (tmpfsMagic, .label("guestroot"), .pidNamespace(ownUTS: true), .skippedInNamespace),
        (ext4Magic, .label("guestroot"), .pidNamespace(ownUTS: true), .kernelMounted),
    ])
    func decides(magic: Int64, root: RootSpec?, confinement: Confinement, expected: RootPlan) {
        #expect(RootPlan.decide(rootFilesystemMagic: magic, root: root, confinement: confinement) == expected)
    }

    @Test func reportsKernelMountedDaxRoot() {
        let table = MountEntry.parseTable("""
            /dev/root / ext4 ro,relatime,dax=always 0 0
            proc /proc proc rw 0 0
            """)
        #expect(RootReport.current(table: table, kernelRoot: "/dev/pmem0")
            == RootReport(source: "/dev/pmem0", type: "ext4", dax: true))
        #expect(RootReport.current(table: table, kernelRoot: nil).source == "/dev/root")
    }

    @Test func reportsTheTopmostRootWithoutDax() {
        let table = MountEntry.parseTable("""
            rootfs / rootfs rw 0 0
            /dev/vda / erofs ro,relatime 0 0
            """)
        #expect(RootReport.current(table: table, kernelRoot: nil) == RootReport(source: "/dev/vda", type: "erofs", dax: false))
    }
}
