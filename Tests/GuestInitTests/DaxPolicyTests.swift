import GuestInit
import Testing

@Suite struct DaxPolicyTests {
    @Test(arguments: [
        (DaxPolicy.auto, "ext4", true, DaxDecision.withDax(option: "dax")),
        (.auto, "erofs", true, .withDax(option: "dax")),
        (.auto, "xfs", true, .withDax(option: "dax")),
        (.always, "ext4", true, .withDax(option: "dax")),
        (.never, "ext4", true, .withoutDax(warning: nil)),
        (.never, "ext4", false, .withoutDax(warning: nil)),
    ])
    func decisions(policy: DaxPolicy, filesystem: String, capable: Bool, expected: DaxDecision) {
        #expect(policy.decide(filesystem: filesystem, deviceSupportsDax: capable) == expected)
    }

    @Test func autoWarnsAndFallsBack() {
        guard case .withoutDax(let warning?) = DaxPolicy.auto.decide(filesystem: "ext4", deviceSupportsDax: false) else {
            Issue.record("expected a fallback with a warning")
            return
        }
        #expect(warning.contains("does not support DAX"))
        guard case .withoutDax(let fsWarning?) = DaxPolicy.auto.decide(filesystem: "btrfs", deviceSupportsDax: true) else {
            Issue.record("expected a fallback for btrfs")
            return
        }
        #expect(fsWarning.contains("btrfs"))
    }

    @Test func alwaysRefusesWithoutDax() {
        guard case .refuse(let device) = DaxPolicy.always.decide(filesystem: "ext4", deviceSupportsDax: false),
              case .refuse(let fs) = DaxPolicy.always.decide(filesystem: "squashfs", deviceSupportsDax: true) else {
            Issue.record("always must refuse")
            return
        }
        #expect(device.contains("guest.dax=always"))
        #expect(fs.contains("squashfs"))
    }

    @Test func kernelMountedRoot() {
        #expect(DaxPolicy.auto.check(kernelMountedRootIsDax: false) == .withoutDax(warning: nil))
        #expect(DaxPolicy.always.check(kernelMountedRootIsDax: true) == .withDax(option: "dax"))
        guard case .refuse(let reason) = DaxPolicy.always.check(kernelMountedRootIsDax: false) else {
            Issue.record("always must refuse a root mounted without DAX")
            return
        }
        #expect(reason.contains("rootflags=dax"))
    }

    @Test(arguments: [
        (["ro", "relatime", "dax=always"], true), (["ro", "dax"], true), (["rw", "dax=never"], false),
        (["ro", "dax=inode"], false), (["ro"], false),
    ])
    func daxFromMountOptions(options: [String], dax: Bool) {
        #expect(DaxPolicy.isDax(mountOptions: options) == dax)
    }
}
