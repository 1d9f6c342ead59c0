import GuestContainer
import GuestSys

/// Runtime-namespace hooks (prestart, createRuntime, poststart, poststop) in a helper process
/// (`guest-agent container-hooks`), so the agent's loop never waits on a hook: the request goes in on
/// stdin, the verdict is the helper's exit status and stderr, collected when it is reaped.
final class HookHelperProcess {
    let pid: Int32
    private let stderr: FileDescriptor

    /// Starts the helper; nil when there are no hooks to run.
    static func start(_ phases: [(HookPhase, [HookSpec])], state: ContainerState, devNull: FileDescriptor) throws(AgentError) -> HookHelperProcess? {
        let phases = phases.filter { !$0.1.isEmpty }
        guard !phases.isEmpty else { return nil }
        let request = HookHelper.request(phases, state: state)
        let input: Pipe, errors: Pipe
        do throws(SysError) {
            input = try Pipe()
            errors = try Pipe()
        } catch {
            throw .system(error)
        }
        var spawn = SpawnRequest(path: "/proc/self/exe", arguments: ["guest-agent", "container-hooks"], environment: [],
                                 descriptors: [0: input.readEnd, 1: devNull, 2: errors.writeEnd])
        spawn.newProcessGroup = true
        let pid: Int32
        do throws(SpawnError) {
            pid = try Spawner.spawn(spawn)
        } catch {
            for fd in [input.readEnd, input.writeEnd, errors.readEnd, errors.writeEnd] { fd.closeQuietly() }
            throw .container(.failed("cannot start the hook helper: \(error)"))
        }
        input.readEnd.closeQuietly()
        errors.writeEnd.closeQuietly()
        // A request larger than the pipe would block the loop: it is written from here only when it fits.
        _ = try? input.writeEnd.setPipeSize(Int32(min(max(request.count + 4096, 65536), 1 << 20)))
        try? input.writeEnd.setNonBlocking()
        let written = request.withUnsafeBytes { input.writeEnd.writeNonBlocking($0) }
        input.writeEnd.closeQuietly()
        try? errors.readEnd.setNonBlocking()
        let helper = HookHelperProcess(pid: pid, stderr: errors.readEnd)
        if written != .bytes(request.count) {
            try? Processes.signal(pid, Signal.kill)
        }
        return helper
    }

    private init(pid: Int32, stderr: FileDescriptor) {
        self.pid = pid
        self.stderr = stderr
    }

    /// The helper was reaped: nil when every hook succeeded, else why not.
    func finished(_ status: WaitStatus) -> String? {
        defer { stderr.closeQuietly() }
        if status == .exited(code: 0) { return nil }
        var text: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while text.count < 8192 {
            guard case .bytes(let n) = chunk.withUnsafeMutableBytes({ stderr.readNonBlocking(into: $0) }) else { break }
            text += chunk[..<n]
        }
        let message = String(decoding: text, as: UTF8.self).split(separator: "\n").joined(separator: "; ")
        return message.isEmpty ? "hook helper \(status)" : message
    }
}
