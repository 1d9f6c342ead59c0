// Test 1 of issue 14, natively: Debian's runc and GuestKit's engine run the same bundles (containerd's
// default spec changed one area at a time, see DifferentialCases.swift) with the probe inside, and what
// the probe prints must be identical line by line, except the known differences each case lists with
// its reason. cgroup behaviour is compared inside the VM (ContainerVMTests), where both see cgroup v2.
import Foundation
import GuestContainer
import GuestSys
import GuestTestSupport
import Testing

@Suite(.serialized) struct ContainerDifferentialTests {
    @Test(arguments: differentialCases)
    func probeSeesTheSameAsUnderRunc(_ testCase: DifferentialCase) throws {
        let host = try ScratchDirectory("engine-diff-host")
        try FileManager.default.createDirectory(atPath: host.path + "/dir/sub", withIntermediateDirectories: true)
        try "host file\n".write(toFile: host.path + "/file", atomically: true, encoding: .utf8)
        try "in dir\n".write(toFile: host.path + "/dir/sub/data", atomically: true, encoding: .utf8)

        let spec = try testCase.spec(host: host.path, cgroupsPath: "/engine-diff/\(testCase.name)")

        let ours = try OCIBundle(spec: spec, label: "engine-diff")
        let theirs = try OCIBundle(spec: spec, label: "engine-diff")
        if let owner = testCase.rootfsOwner {
            for bundle in [ours, theirs] { try Command.run(["chown", "-R", "\(owner.uid):\(owner.gid)", bundle.rootfs]) }
        }
        let id = "engine-diff-\(testCase.name)"
        let runc = try Runc.run(bundlePath: theirs.path, id: id)
        let guestkit: ContainerRun
        do {
            guestkit = try DrivenContainer.run(bundlePath: ours.path, id: id)
        } catch {
            // A refused create is runc's exit status 1 with the reason on stderr.
            guestkit = ContainerRun(status: .exited(code: 1), stdout: "", stderr: "\(error)")
        }

        // Both reports are kept for a reader of a failure: out/container-diff/<case>.{guestkit,runc}.txt.
        let reports = BuiltProducts.packageRoot.appendingPathComponent("out/container-diff").path
        try? FileManager.default.createDirectory(atPath: reports, withIntermediateDirectories: true)
        try? "\(guestkit)".write(toFile: "\(reports)/\(testCase.name).guestkit.txt", atomically: true, encoding: .utf8)
        try? "\(runc)".write(toFile: "\(reports)/\(testCase.name).runc.txt", atomically: true, encoding: .utf8)

        #expect(guestkit.status.shellCode == runc.status.shellCode, "exit status: GuestKit \(guestkit.status), runc \(runc.status)\nGuestKit stderr: \(guestkit.stderr)\nrunc stderr: \(runc.stderr)")
        let differences = nativeCgroupDifferences + testCase.differences
        let comparison = ProbeComparison(ours: guestkit.stdout, theirs: runc.stdout, allowed: differences)
        #expect(comparison.unexplained.isEmpty, "\(testCase.name): lines that differ from runc's:\n\(comparison.unexplained.joined(separator: "\n"))")
        if runc.status.shellCode == 0 {
            #expect(guestkit.stdout.contains("uid "), "the probe printed nothing: \(guestkit)")
        }
    }
}
