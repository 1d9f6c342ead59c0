import GuestInit
import GuestSys
import Testing

@Suite struct ConfinementTests {
    static let privateMounts = """
        43 42 254:0 / / rw,relatime - ext4 /dev/vda rw
        44 43 0:5 / /dev rw,nosuid - devtmpfs udev rw
        45 43 0:22 / /proc rw,nosuid,nodev,noexec - proc proc rw
        """
    static let sharedMounts = """
        23 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
        24 23 0:5 / /dev rw,nosuid shared:2 master:1 - devtmpfs udev rw
        """
    static let slaveMounts = """
        23 1 254:0 / / rw,relatime master:1 - ext4 /dev/vda rw
        """

    @Test func onlyPID1() {
        let result = Confinement.decide(pid: 42, pidNamespace: Namespaces.initialPIDInode, utsNamespace: nil, mountInfo: "")
        #expect(result == .failure(.notPID1(pid: 42)))
        guard case .failure(let refusal) = result else { return }
        #expect(refusal.description.contains("must run as PID 1"))
        #expect(refusal.description.contains("unshare"))
    }

    @Test func machineWhenInTheInitialNamespaceOrWithoutProc() {
        #expect(Confinement.decide(pid: 1, pidNamespace: Namespaces.initialPIDInode,
                                   utsNamespace: Namespaces.initialUTSInode, mountInfo: Self.sharedMounts) == .success(.machine))
        #expect(Confinement.decide(pid: 1, pidNamespace: nil, utsNamespace: nil, mountInfo: "") == .success(.machine))
    }

    @Test func namespaceWithPrivateOrSlaveMounts() {
        #expect(Confinement.decide(pid: 1, pidNamespace: 4_026_532_100, utsNamespace: 4_026_532_101,
                                   mountInfo: Self.privateMounts) == .success(.pidNamespace(ownUTS: true)))
        #expect(Confinement.decide(pid: 1, pidNamespace: 4_026_532_100, utsNamespace: Namespaces.initialUTSInode,
                                   mountInfo: Self.slaveMounts) == .success(.pidNamespace(ownUTS: false)))
    }

    @Test func namespaceWithSharedMountsIsRefused() {
        let result = Confinement.decide(pid: 1, pidNamespace: 4_026_532_100, utsNamespace: nil, mountInfo: Self.sharedMounts)
        #expect(result == .failure(.sharedMounts(example: "/")))
    }

    @Test func aSeparatorBeforeTheOptionalFieldsIsNotATrap() {
        // A "-" in field 3 (a mount's root) must not be taken for the separator.
        let odd = "23 1 254:0 - / rw,relatime shared:1 - ext4 /dev/vda rw"
        #expect(Confinement.decide(pid: 1, pidNamespace: 4_026_532_100, utsNamespace: nil, mountInfo: odd)
            == .failure(.sharedMounts(example: "/")))
    }

    @Test func whatEachMayDo() {
        #expect(Confinement.machine.isMachine && Confinement.machine.mayChangeHostname)
        #expect(!Confinement.pidNamespace(ownUTS: true).isMachine)
        #expect(Confinement.pidNamespace(ownUTS: true).mayChangeHostname)
        #expect(!Confinement.pidNamespace(ownUTS: false).mayChangeHostname)
    }
}
