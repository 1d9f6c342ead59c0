@testable import GuestInit
import GuestSys
import Testing

@Suite struct ShutdownSequenceTests {
    @Test func unmountsNewestFirstAndLeavesRoot() {
        let table = MountEntry.parseTable("""
            /dev/root / ext4 ro 0 0
            proc /proc proc rw 0 0
            devtmpfs /dev devtmpfs rw 0 0
            devpts /dev/pts devpts rw 0 0
            tmpfs /run tmpfs rw 0 0
            tmpfs /run tmpfs rw 0 0
            overlay /run/containers/a overlay rw 0 0
            """)
        #expect(UnmountPlan.order(table) == ["/run/containers/a", "/run", "/run", "/dev/pts", "/dev", "/proc"])
    }

    @Test(arguments: [
        (ShutdownKind.powerOff, true, true, RebootCommand.powerOff),
        (.powerOff, true, false, .restart),     // microvm with acpi=off: a restart ends the VM
        (.powerOff, false, false, .powerOff),   // a namespace's init: reboot(2) ends the namespace either way
        (.reboot, true, false, .restart),
        (.reboot, true, true, .restart),
    ])
    func powerOffWithoutACPIRestarts(kind: ShutdownKind, machine: Bool, hasACPI: Bool, expected: RebootCommand) {
        #expect(ShutdownSequence.command(for: kind, machine: machine, hasACPI: hasACPI) == expected)
    }
}
