import GuestSys

/// The moments of a boot guest-init records, in the order they happen.
public enum BootStage: String, CaseIterable, Sendable {
    /// guest-init's first instruction: CLOCK_BOOTTIME here is how long the kernel took to hand over.
    case initStarted = "init_started"
    case mountsReady = "mounts_ready"
    case modulesLoaded = "modules_loaded"
    case rootMounted = "root_mounted"
    case agentStarted = "agent_started"
    case agentReady = "agent_ready"
}

/// CLOCK_BOOTTIME at each boot stage, for one console line and for /run/guest/boot.json (contract 2):
/// `{"init_version":…,"kernel_release":…,"stages":[{"name":…,"boottime_ns":N},…],"root":{…},
/// "agent_restarts":N}`. Stages that did not happen are left out. A stage is recorded once: an agent
/// restart changes `agent_restarts`, not the boot's own timeline.
public struct BootTimeline: Equatable, Sendable {
    public private(set) var times: [BootStage: UInt64] = [:]

    public init() {}

    /// Records a stage the first time it happens (later calls keep the first time).
    public mutating func record(_ stage: BootStage, at nanoseconds: UInt64 = Clock.bootTimeNanoseconds) {
        if times[stage] == nil { times[stage] = nanoseconds }
    }

    /// The recorded stages in boot order.
    public var stages: [(stage: BootStage, nanoseconds: UInt64)] {
        BootStage.allCases.compactMap { stage in times[stage].map { (stage, $0) } }
    }

    /// "init_started 812.004 ms, mounts_ready +0.512 ms, …, agent_ready +3.120 ms"
    public var summary: String {
        var previous: UInt64?
        return stages.map { entry in
            defer { previous = entry.nanoseconds }
            guard let previous else { return entry.stage.rawValue + " " + DurationText.milliseconds(entry.nanoseconds) }
            let delta = entry.nanoseconds >= previous ? entry.nanoseconds - previous : 0
            return entry.stage.rawValue + " +" + DurationText.milliseconds(delta)
        }.joined(separator: ", ")
    }

    /// The boot.json document, hand-written (no Foundation in the guest).
    public func json(initVersion: String, kernelRelease: String, root: RootReport, agentRestarts: Int) -> String {
        let stageList = stages.map { "{\"name\":\(JSONText.quoted($0.stage.rawValue)),\"boottime_ns\":\($0.nanoseconds)}" }
        return "{\"init_version\":\(JSONText.quoted(initVersion)),"
            + "\"kernel_release\":\(JSONText.quoted(kernelRelease)),"
            + "\"stages\":[" + stageList.joined(separator: ",") + "],"
            + "\"root\":{\"source\":\(JSONText.quoted(root.source)),\"type\":\(JSONText.quoted(root.type)),"
            + "\"dax\":\(root.dax),\"overlay\":\(JSONText.quoted(root.overlay.rawValue)),"
            + "\"switched\":\(root.switched)},"
            + "\"agent_restarts\":\(agentRestarts)}\n"
    }
}

/// JSON string literals (RFC 8259 §7).
enum JSONText {
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
