import GuestJSON
import GuestSys

/// Runs a phase's hooks one after the other, synchronously: each gets the state JSON on stdin, its own
/// argv and environment, and is killed at its timeout. The first failure stops the phase. Used by the
/// container init (createContainer, startContainer) and by the agent's hook helper process (prestart,
/// createRuntime, poststart, poststop), so neither blocks the agent's loop.
public enum HookRunner {
    /// Output kept from a failing hook for the error message.
    static let outputLimit = 4096

    public static func run(_ hooks: [HookSpec], phase: HookPhase, state: ContainerState) throws(ContainerError) {
        let input = Array(state.json.serialized.utf8)
        for (i, hook) in hooks.enumerated() {
            try run(hook, input: input, name: "\(phase.rawValue) hook \(i) (\(hook.path))")
        }
    }

    static func run(_ hook: HookSpec, input: [UInt8], name: String) throws(ContainerError) {
        let stdin: Pipe, output: Pipe, null: FileDescriptor
        do throws(SysError) {
            stdin = try Pipe()
            output = try Pipe()
            null = try FileDescriptor.open("/dev/null", .readWrite)
        } catch {
            throw ContainerError.step("\(name): pipes", error)
        }
        defer { null.closeQuietly() }
        let arguments = hook.args.isEmpty ? [hook.path] : hook.args
        var request = SpawnRequest(path: hook.path, arguments: arguments, environment: hook.env,
                                   descriptors: [0: stdin.readEnd, 1: output.writeEnd, 2: output.writeEnd])
        request.newProcessGroup = true
        let pid: Int32
        do throws(SpawnError) {
            pid = try Spawner.spawn(request)
        } catch {
            for fd in [stdin.readEnd, stdin.writeEnd, output.readEnd, output.writeEnd] { fd.closeQuietly() }
            throw ContainerError.failed("\(name): \(error)")
        }
        stdin.readEnd.closeQuietly()
        output.writeEnd.closeQuietly()
        // The state is small (well under a pipe's buffer); a hook that never reads it still gets EOF.
        _ = try? stdin.writeEnd.writeAll(input)
        stdin.writeEnd.closeQuietly()
        try? output.readEnd.setNonBlocking()
        defer { output.readEnd.closeQuietly() }

        let deadline = hook.timeoutSeconds.map { Clock.monotonicNanoseconds + UInt64($0) * 1_000_000_000 }
        var captured: [UInt8] = []
        var status: WaitStatus?
        var outputClosed = false
        while status == nil {
            outputClosed = drain(output.readEnd, into: &captured) || outputClosed
            if let reaped = try? Processes.reapOne(pid) {
                status = reaped.status
                break
            }
            if let deadline, Clock.monotonicNanoseconds >= deadline {
                try? Processes.signal(-pid, Signal.kill)
                try? Processes.signal(pid, Signal.kill)
                _ = try? Processes.wait(pid)
                throw ContainerError.failed("\(name) timed out after \(hook.timeoutSeconds ?? 0) s and was killed")
            }
            if outputClosed {
                Clock.sleep(nanoseconds: 1_000_000)
            } else {
                _ = try? output.readEnd.waitReadable(timeoutMilliseconds: 10)
            }
        }
        _ = drain(output.readEnd, into: &captured)
        guard status == .exited(code: 0) else {
            let text = String(decoding: captured.prefix(outputLimit), as: UTF8.self)
            throw ContainerError.failed("\(name) \(status?.description ?? "failed")\(text.isEmpty ? "" : ": " + text)")
        }
    }

    /// Reads what is there; true at end of file.
    static func drain(_ fd: FileDescriptor, into captured: inout [UInt8]) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let result = chunk.withUnsafeMutableBytes { fd.readNonBlocking(into: $0) }
            guard case .bytes(let n) = result else { return result != .wouldBlock }
            if captured.count < outputLimit { captured += chunk[..<min(n, outputLimit - captured.count)] }
        }
    }
}

/// `guest-agent container-hooks`: runs hooks in the runtime namespace for the agent, in a process of
/// their own so the agent's loop never waits on them. Stdin: `{"phases": [{"phase": …, "hooks": [HookSpec…]}…],
/// "state": {…}}`, the phases run in order. Exit 0 when every hook succeeded; otherwise the error on
/// stderr and exit 1.
public enum HookHelper {
    public static func request(_ phases: [(HookPhase, [HookSpec])], state: ContainerState) -> [UInt8] {
        let list: [JSONValue] = phases.map { phase, hooks in
            let specs: [JSONValue] = hooks.map { hook in
                var object = JSONObject([("path", .string(hook.path)), ("args", .strings(hook.args)), ("env", .strings(hook.env))])
                if let timeout = hook.timeoutSeconds { object.set("timeout", .integer(Int64(timeout))) }
                return .object(object)
            }
            return .object(JSONObject([("phase", .string(phase.rawValue)), ("hooks", .array(specs))]))
        }
        let value: JSONValue = .object(JSONObject([("phases", .array(list)), ("state", state.json)]))
        return Array(value.serialized.utf8)
    }

    public static func main() -> Never {
        do throws(ContainerError) {
            let input: [UInt8]
            do throws(SysError) { input = try FileDescriptor.standardInput.readToEnd(limit: 16 << 20) } catch {
                throw ContainerError.step("read the hook request", error)
            }
            let (phases, state) = try parse(input)
            for (phase, hooks) in phases { try HookRunner.run(hooks, phase: phase, state: state) }
            Processes.exitImmediately(0)
        } catch {
            try? FileDescriptor.standardError.writeAll(error.description + "\n")
            Processes.exitImmediately(1)
        }
    }

    static func parse(_ input: [UInt8]) throws(ContainerError) -> ([(HookPhase, [HookSpec])], ContainerState) {
        do {
            let object = try JSONField(try JSONValue.parse(input)).object()
            var phases: [(HookPhase, [HookSpec])] = []
            for entry in try object.required("phases").array() {
                let fields = try entry.object()
                let name = try fields.required("phase")
                guard let phase = HookPhase(rawValue: try name.string()) else { throw name.error("unknown hook phase") }
                phases.append((phase, try fields.required("hooks").array().map { f throws(SpecError) in try HookSpec(f) }))
            }
            let s = try object.required("state").object()
            let state = ContainerState(ociVersion: try s.required("ociVersion").string(), id: try s.required("id").string(),
                                       status: ContainerStatus(rawValue: try s.required("status").string()) ?? .creating,
                                       pid: try s["pid"]?.integer(Int32.self) ?? 0, bundle: try s.required("bundle").string(),
                                       annotations: Dictionary(try s["annotations"]?.stringMap() ?? [], uniquingKeysWith: { $1 }))
            return (phases, state)
        } catch {
            throw ContainerError.failed("hook request: \(error)")
        }
    }
}
