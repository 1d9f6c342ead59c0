// A small synchronous driver of the engine for native tests: create (cgroup, launch, hooks), start,
// collect stdout/stderr, wait, delete — the same GuestContainer calls the agent makes from its loop,
// made one after the other here.
import Foundation
import GuestContainer
import GuestJSON
import GuestSys
import GuestTestSupport

/// What a container run printed and how it ended.
struct ContainerRun: CustomStringConvertible {
    var status: WaitStatus
    var stdout: String
    var stderr: String

    var description: String { "\(status)\nstdout:\n\(stdout)\nstderr:\n\(stderr)" }
}

/// A container created by the engine natively, from its bundle directory.
final class DrivenContainer {
    let id: String
    let bundle: ContainerBundle
    let cgroup: ContainerCgroup
    let launch: ContainerLaunch
    let stdout: StreamReader
    let stderr: StreamReader
    let stdinWriter: FileDescriptor?
    private(set) var pid: Int32 = 0
    private(set) var terminal: FileDescriptor?
    private var reaped: WaitStatus?

    /// The GuestKit binary the container init is exec'd from (what the agent opens as /proc/self/exe).
    static func binary() throws -> FileDescriptor {
        try FileDescriptor.open(BuiltProducts.path("guest-agent"), .path)
    }

    /// Creates it (up to "created"); throws the engine's error otherwise.
    init(bundlePath: String, id: String, stdin: Bool = false) throws {
        self.id = id
        bundle = try ContainerBundle(path: bundlePath)
        cgroup = ContainerCgroup(layout: .detect(), path: CgroupPath.forContainer(id: id, spec: bundle.spec.linux.cgroupsPath))
        try cgroup.create()
        if let resources = bundle.spec.linux.resources { try cgroup.apply(resources) }
        let out = try GuestSys.Pipe(), err = try GuestSys.Pipe(), input = try GuestSys.Pipe()
        let null = try FileDescriptor.open("/dev/null", .readWrite)
        let binary = try Self.binary()
        defer {
            binary.closeQuietly()
            null.closeQuietly()
            out.writeEnd.closeQuietly()
            err.writeEnd.closeQuietly()
            input.readEnd.closeQuietly()
        }
        stdout = StreamReader(out.readEnd)
        stderr = StreamReader(err.readEnd)
        stdinWriter = stdin ? input.writeEnd : nil
        if !stdin { input.writeEnd.closeQuietly() }
        let request = ContainerLaunch.Request(mode: .container, id: id, bundle: bundle.path, rootfs: bundle.rootfs,
                                              spec: bundle.spec, cgroup: cgroup, binary: binary,
                                              stdio: [stdin ? input.readEnd : null, out.writeEnd, err.writeEnd])
        do {
            launch = try ContainerLaunch(request)
        } catch {
            try? cgroup.remove()
            throw error
        }
        do {
            try drive(until: { if case .created = $0 { return true } else { return false } })
        } catch {
            destroy()
            throw error
        }
    }

    /// Feeds the launch until an event matches; hooks are run here (synchronously) when asked.
    func drive(until done: (ContainerLaunch.Event) -> Bool) throws {
        while true {
            guard try launch.channel.fd.waitReadable(timeoutMilliseconds: 30_000) else {
                throw ContainerError.failed("no word from the container process within 30 s (phase \(launch.phase))")
            }
            let events = launch.readable()
            if events.isEmpty && (launch.phase == .failed || launch.phase == .started) {
                throw ContainerError.failed("the launch ended in phase \(launch.phase) without the awaited event")
            }
            for event in events {
                switch event {
                case .spawned(let pid):
                    self.pid = pid
                    _ = try? Processes.wait(launch.stage1PID)
                case .needsHooks:
                    let state = launch.state(.creating, bundle: bundle.path)
                    do {
                        try HookRunner.run(bundle.spec.hooks.prestart, phase: .prestart, state: state)
                        try HookRunner.run(bundle.spec.hooks.createRuntime, phase: .createRuntime, state: state)
                        launch.hooksFinished(failure: nil)
                    } catch {
                        launch.hooksFinished(failure: "\(error)")
                    }
                case .created(let terminal):
                    self.terminal = terminal
                case .failed(let error):
                    if pid == 0 { _ = try? Processes.wait(launch.stage1PID) }
                    throw error
                case .started:
                    break
                }
                if done(event) { return }
            }
        }
    }

    func start() throws {
        try launch.start()
        try drive(until: { if case .started = $0 { return true } else { return false } })
        launch.close()
        try HookRunner.run(bundle.spec.hooks.poststart, phase: .poststart, state: launch.state(.running, bundle: bundle.path))
    }

    /// Waits for the init to exit, then for its output to end.
    func wait() throws -> ContainerRun {
        let status = try reap()
        return ContainerRun(status: status, stdout: String(decoding: try stdout.bytes(), as: UTF8.self),
                            stderr: String(decoding: try stderr.bytes(), as: UTF8.self))
    }

    func reap() throws -> WaitStatus {
        if let reaped { return reaped }
        let status = try Processes.wait(pid)
        reaped = status
        return status
    }

    /// Kills what is left, waits for the cgroup to empty, removes it, runs poststop hooks.
    func destroy() {
        launch.cancel()
        try? cgroup.killAll()
        if pid > 0, reaped == nil { reaped = try? Processes.wait(pid) }
        for _ in 0..<500 where !cgroup.processes().isEmpty { Clock.sleep(nanoseconds: 2_000_000) }
        try? cgroup.remove()
        launch.close()
        terminal?.closeQuietly()
        stdinWriter?.closeQuietly()
        try? HookRunner.run(bundle.spec.hooks.poststop, phase: .poststop, state: launch.state(.stopped, bundle: bundle.path))
    }

    /// An exec into the running container: the process JSON as an OCI Process; returns its output and status.
    func exec(_ process: [String: Any]) throws -> ContainerRun {
        let json = try JSONValue.parse(Array(try JSONSerialization.data(withJSONObject: process)))
        let spec = try ProcessSpec(JSONField(json))
        let out = try GuestSys.Pipe(), err = try GuestSys.Pipe()
        let null = try FileDescriptor.open("/dev/null", .readWrite)
        let binary = try Self.binary()
        let stdout = StreamReader(out.readEnd), stderr = StreamReader(err.readEnd)
        let request = ContainerLaunch.Request(mode: .exec, id: id, bundle: bundle.path, rootfs: bundle.rootfs, spec: bundle.spec,
                                              exec: (spec, json), initPID: pid, cgroup: cgroup, binary: binary,
                                              stdio: [null, out.writeEnd, err.writeEnd])
        let launch: ContainerLaunch
        do {
            launch = try ContainerLaunch(request)
        } catch {
            for fd in [binary, null, out.writeEnd, err.writeEnd] { fd.closeQuietly() }
            throw error
        }
        for fd in [binary, null, out.writeEnd, err.writeEnd] { fd.closeQuietly() }
        defer { launch.close() }
        var execPID: Int32 = 0
        var started = false
        while !started {
            guard try launch.channel.fd.waitReadable(timeoutMilliseconds: 30_000) else {
                throw ContainerError.failed("no word from the exec process within 30 s")
            }
            let events = launch.readable()
            if events.isEmpty && launch.phase == .failed { throw ContainerError.failed("the exec launch failed") }
            for event in events {
                switch event {
                case .spawned(let pid):
                    execPID = pid
                    _ = try? Processes.wait(launch.stage1PID)
                case .created(let terminal):
                    terminal?.closeQuietly()
                    try launch.start()
                case .started:
                    started = true
                case .failed(let error):
                    if execPID > 0 { _ = try? Processes.wait(execPID) } else { _ = try? Processes.wait(launch.stage1PID) }
                    throw error
                case .needsHooks:
                    launch.hooksFinished(failure: nil)
                }
            }
        }
        let status = try Processes.wait(execPID)
        return ContainerRun(status: status, stdout: String(decoding: try stdout.bytes(), as: UTF8.self),
                            stderr: String(decoding: try stderr.bytes(), as: UTF8.self))
    }

    /// create + start + wait + delete, like `runc run`.
    static func run(bundlePath: String, id: String) throws -> ContainerRun {
        let container = try DrivenContainer(bundlePath: bundlePath, id: id)
        defer { container.destroy() }
        try container.start()
        return try container.wait()
    }
}

/// Debian's runc on the same bundle.
enum Runc {
    static let root = "/run/engine-tests-runc"

    static func run(bundlePath: String, id: String) throws -> ContainerRun {
        let result = try Command.run(["runc", "--root", root, "run", "--bundle", bundlePath, id])
        _ = try? Command.run(["runc", "--root", root, "delete", "--force", id])
        let status: WaitStatus = result.signaled ? .signaled(signal: result.status, coreDumped: false) : .exited(code: result.status)
        return ContainerRun(status: status, stdout: result.stdout, stderr: result.stderr)
    }
}
