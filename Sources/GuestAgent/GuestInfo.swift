import GuestJSON
import GuestProto
import GuestSys

/// guest-init's boot timeline file (contract 2), as written to /run/guest/boot.json.
struct BootTimeline: Equatable {
    struct Stage: Equatable {
        var name: String
        var boottimeNanoseconds: UInt64
    }

    struct Root: Equatable {
        var source: String?
        var type: String?
        var dax: Bool?
        var overlay: String?
        var switched: Bool?
    }

    var initVersion: String?
    var kernelRelease: String?
    var stages: [Stage]
    var root: Root?
    var agentRestarts: UInt32?

    /// Reads the file's JSON; a malformed file or a field of the wrong type is an error naming it.
    static func parse(_ bytes: [UInt8]) throws -> BootTimeline {
        let document = try JSONField(JSONValue.parse(bytes, limits: JSONLimits(maxBytes: 1 << 20, maxDepth: 16))).object()
        var stages: [Stage] = []
        for stage in try document.required("stages").array() {
            let fields = try stage.object()
            stages.append(Stage(name: try fields.required("name").string(),
                                boottimeNanoseconds: try fields.required("boottime_ns").uint64()))
        }
        var root: Root?
        if let fields = try document["root"]?.object() {
            root = Root(source: try fields["source"]?.string(), type: try fields["type"]?.string(),
                        dax: try fields["dax"]?.bool(), overlay: try fields["overlay"]?.string(),
                        switched: try fields["switched"]?.bool())
        }
        return BootTimeline(initVersion: try document["init_version"]?.string(),
                            kernelRelease: try document["kernel_release"]?.string(), stages: stages, root: root,
                            agentRestarts: try document["agent_restarts"]?.integer(UInt32.self))
    }
}

/// Builds the GetInfo answer from the kernel, /proc and the boot timeline.
enum GuestInfo {
    static func build(bootFile: String, processCount: Int) -> Guestkit_V1_GetInfoResponse {
        var info = Guestkit_V1_GetInfoResponse()
        info.agentVersion = Agent.version
        info.kernelRelease = (try? Processes.kernel().release) ?? ""
        info.uptimeNs = Clock.bootTimeNanoseconds
        info.features = Agent.features
        info.processCount = UInt32(clamping: processCount)
        info.agentOpenDescriptors = UInt32(clamping: Processes.openDescriptorCount())

        var memory = Guestkit_V1_MemoryInfo()
        if let meminfo = try? FileSystem.readText("/proc/meminfo") {
            memory.totalBytes = kilobytes("MemTotal", in: meminfo) * 1024
            memory.availableBytes = kilobytes("MemAvailable", in: meminfo) * 1024
        }
        if let rollup = try? FileSystem.readText("/proc/self/smaps_rollup") {
            memory.agentPrivateDirtyBytes = kilobytes("Private_Dirty", in: rollup) * 1024
        }
        info.memory = memory

        do {
            let timeline = try BootTimeline.parse(try FileSystem.readFile(bootFile, limit: 1 << 20))
            info.initVersion = timeline.initVersion ?? ""
            info.bootStages = timeline.stages.map { stage in
                var s = Guestkit_V1_BootStage()
                s.name = stage.name
                s.boottimeNs = stage.boottimeNanoseconds
                return s
            }
            if let root = timeline.root {
                var r = Guestkit_V1_RootInfo()
                r.source = root.source ?? ""
                r.type = root.type ?? ""
                r.dax = root.dax ?? false
                r.overlay = root.overlay ?? ""
                r.switched = root.switched ?? false
                info.root = r
                info.rootDax = r.dax
            }
            info.agentRestarts = timeline.agentRestarts ?? 0
        } catch let error as SysError where error.code == Errno.ENOENT {
            info.bootTimelineError = "no \(bootFile) (not started by guest-init?)"
        } catch {
            info.bootTimelineError = "cannot read \(bootFile): \(error)"
        }
        return info
    }

    /// The number in a "Key:   1234 kB" line of /proc/meminfo or smaps_rollup; 0 when absent.
    static func kilobytes(_ key: String, in text: String) -> UInt64 {
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            let fields = line.dropFirst(key.count + 1).split(separator: " ")
            return fields.first.flatMap { UInt64($0) } ?? 0
        }
        return 0
    }
}
