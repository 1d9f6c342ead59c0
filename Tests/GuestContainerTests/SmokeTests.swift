import Foundation
import GuestContainer
import GuestSys
import GuestTestSupport
import Testing

@Suite struct SmokeTests {
    @Test func echoesWithContainerdsDefaultSpec() throws {
        var spec = try ContainerFixtures.containerdDefaultSpec()
        var process = spec["process"] as? [String: Any] ?? [:]
        process["args"] = ["echo", "hello"]
        process["env"] = ["PATH=/bin"]
        spec["process"] = process
        var linux = spec["linux"] as? [String: Any] ?? [:]
        linux["cgroupsPath"] = "/engine-tests/smoke"
        spec["linux"] = linux
        let bundle = try OCIBundle(spec: spec)
        let run = try DrivenContainer.run(bundlePath: bundle.path, id: "engine-smoke")
        #expect(run.stdout == "hello\n", "\(run)")
        #expect(run.status == .exited(code: 0))
    }
}
