import Foundation
import GuestInit
import Testing

@Suite struct BootTimelineTests {
    @Test func jsonFollowsTheContract() throws {
        var timeline = BootTimeline()
        timeline.record(.agentReady, at: 900)
        timeline.record(.initStarted, at: 100)
        timeline.record(.mountsReady, at: 200)
        timeline.record(.agentStarted, at: 800)
        timeline.record(.initStarted, at: 999)  // a stage keeps its first time
        let root = RootReport(source: "/dev/pmem0", type: "ext4", dax: true, overlay: .tmpfs, switched: true)
        let text = timeline.json(initVersion: "0.1.0", kernelRelease: "6.12.1", root: root, agentRestarts: 2)
        #expect(text == """
            {"init_version":"0.1.0","kernel_release":"6.12.1","stages":[{"name":"init_started","boottime_ns":100},\
            {"name":"mounts_ready","boottime_ns":200},{"name":"agent_started","boottime_ns":800},\
            {"name":"agent_ready","boottime_ns":900}],"root":{"source":"/dev/pmem0","type":"ext4","dax":true,\
            "overlay":"tmpfs","switched":true},"agent_restarts":2}

            """)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let stages = try #require(object["stages"] as? [[String: Any]])
        #expect(stages.map { $0["name"] as? String } == ["init_started", "mounts_ready", "agent_started", "agent_ready"])
    }

    @Test func stringsAreEscaped() throws {
        let root = RootReport(source: "/dev/odd\"name\\\n\u{1}", type: "ext4", dax: false)
        let text = BootTimeline().json(initVersion: "0.1.0", kernelRelease: "k", root: root, agentRestarts: 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let parsed = try #require(object["root"] as? [String: Any])
        #expect(parsed["source"] as? String == root.source)
        #expect((object["stages"] as? [Any])?.isEmpty == true)
    }

    @Test func summaryShowsStepsBetweenStages() {
        var timeline = BootTimeline()
        timeline.record(.initStarted, at: 812_004_000)
        timeline.record(.mountsReady, at: 812_516_000)
        timeline.record(.agentReady, at: 815_636_500)
        #expect(timeline.summary == "init_started 812.004 ms, mounts_ready +0.512 ms, agent_ready +3.120 ms")
    }
}
