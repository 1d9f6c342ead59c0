import GuestJSON
import GuestSys

/// The parent's side of creating a container's init or an exec process, as a state machine the caller
/// drives from its poll loop (the agent) or a plain loop (tests): `readable()` whenever the sync socket
/// is readable, `hooksFinished` after running prestart/createRuntime hooks when asked, `start()` to let
/// the program exec. It never blocks.
///
/// Order (runc's parent, process_linux.go): stage 1 forked; stage 2's pid arrives → uid/gid maps,
/// oom_score_adj, the cgroup → "go" and the instructions; "hooks" → the caller runs them → "resume";
/// "created" (+ the pty) → rlimits with prlimit; "start" → end of file once exec succeeded.
public final class ContainerLaunch {
    public enum Mode: Sendable { case container, exec }

    /// What the caller hears from `readable()`.
    public enum Event: Sendable {
        /// Stage 2 exists and is in the cgroup: from now on `pid` is the container process.
        case spawned(pid: Int32)
        /// Run the spec's prestart and createRuntime hooks (state "creating"), then call `hooksFinished`.
        case needsHooks
        /// Created; the pty controller when the process has a terminal.
        case created(terminal: FileDescriptor?)
        /// The program was exec'd.
        case started
        case failed(ContainerError)
    }

    public enum Phase: Sendable, Equatable { case spawning, initializing, hooks, created, starting, started, failed }

    public let mode: Mode
    public let id: String
    public let channel: InitChannel
    public let stage1PID: Int32
    public private(set) var pid: Int32?
    public private(set) var phase = Phase.spawning
    let spec: RuntimeSpec
    let process: ProcessSpec
    /// The process this launch runs (the spec's, or the exec's).
    public var processSpec: ProcessSpec { process }
    let cgroup: ContainerCgroup
    let instructions: [UInt8]
    /// A mount namespace to join, handed to the init with its instructions: the init joins it itself,
    /// after the re-exec, because the GuestKit binary's loader and libraries are not in a container's root.
    var mountNamespace: FileDescriptor?
    private var channelClosed = false

    /// Everything a launch needs.
    public struct Request {
        public var mode: Mode
        public var id: String
        public var bundle: String
        public var rootfs: String
        public var spec: RuntimeSpec
        /// The exec's process and its JSON; nil for the container's init (the spec's process).
        public var exec: (process: ProcessSpec, json: JSONValue)?
        /// For an exec: the container init's pid, whose namespaces are joined.
        public var initPID: Int32?
        public var cgroup: ContainerCgroup
        /// The GuestKit binary (the agent's /proc/self/exe, opened at start).
        public var binary: FileDescriptor
        /// The child's descriptors 0-2 (a terminal process gets its pty inside the container instead).
        public var stdio: [FileDescriptor]

        public init(mode: Mode, id: String, bundle: String, rootfs: String, spec: RuntimeSpec,
                    exec: (process: ProcessSpec, json: JSONValue)? = nil, initPID: Int32? = nil, cgroup: ContainerCgroup,
                    binary: FileDescriptor, stdio: [FileDescriptor]) {
            self.mode = mode
            self.id = id
            self.bundle = bundle
            self.rootfs = rootfs
            self.spec = spec
            self.exec = exec
            self.initPID = initPID
            self.cgroup = cgroup
            self.binary = binary
            self.stdio = stdio
        }
    }

    /// Forks stage 1. The sync socket's parent end is non-blocking, for the caller's poll loop.
    public init(_ request: Request) throws(ContainerError) {
        mode = request.mode
        id = request.id
        spec = request.spec
        cgroup = request.cgroup
        guard let process = request.exec?.process ?? request.spec.process else {
            throw ContainerError.invalidSpec(SpecError(JSONPath([.member("process")]), "is required"))
        }
        self.process = process
        let hooks = request.mode == .container && !(request.spec.hooks.prestart.isEmpty && request.spec.hooks.createRuntime.isEmpty)
        let document = InitInstructions(mode: request.mode == .container ? .container : .exec, id: request.id,
                                        bundle: request.bundle, rootfs: request.rootfs, spec: request.spec.document,
                                        process: request.exec?.json, cgroupPath: request.cgroup.path, parentHooks: hooks)
        instructions = Array(document.json.serialized.utf8)

        var joins: [NamespaceJoin] = []
        defer { for join in joins { join.fd.closeQuietly() } }
        var cloneFlags: Int32 = 0
        var newCgroupNamespace = false
        do throws(SysError) {
            switch request.mode {
            case .container:
                for kind in NamespaceKind.joinOrder {
                    guard let namespace = request.spec.linux.namespace(kind) else { continue }
                    if let path = namespace.path, kind == .mount {
                        mountNamespace = try FileDescriptor.open(path, .readOnly)
                    } else if let path = namespace.path {
                        joins.append(NamespaceJoin(fd: try FileDescriptor.open(path, .readOnly), type: kind.cloneFlag, name: kind.procName))
                    } else if kind == .cgroup {
                        newCgroupNamespace = true
                    } else {
                        cloneFlags |= kind.cloneFlag
                    }
                }
            case .exec:
                guard let initPID = request.initPID else { throw SysError("exec", ["no container init pid"], code: Errno.ESRCH) }
                for kind in NamespaceKind.joinOrder {
                    let theirs = "/proc/\(initPID)/ns/\(kind.procName)"
                    // setns into one's own user namespace is EINVAL; joining an identical one is pointless.
                    if let mine = try? FileSystem.status("/proc/self/ns/\(kind.procName)"),
                       let other = try? FileSystem.status(theirs), mine.inode == other.inode, mine.device == other.device {
                        continue
                    }
                    if kind == .mount {
                        mountNamespace = try FileDescriptor.open(theirs, .readOnly)
                    } else {
                        joins.append(NamespaceJoin(fd: try FileDescriptor.open(theirs, .readOnly), type: kind.cloneFlag, name: kind.procName))
                    }
                }
            }
        } catch {
            mountNamespace?.closeQuietly()
            throw ContainerError.step("open the namespaces to join", error)
        }

        let (mine, theirs): (FileDescriptor, FileDescriptor)
        do throws(SysError) {
            (mine, theirs) = try Sockets.messagePair()
            try mine.setNonBlocking()
        } catch {
            throw ContainerError.step("create the sync socket", error)
        }
        channel = InitChannel(mine)
        var spawn = ContainerSpawnRequest(binary: request.binary, arguments: ["guest-agent", request.mode == .container ? "container-init" : "exec-init"],
                                          environment: [], syncSocket: theirs, stdio: request.stdio, joins: joins,
                                          cloneFlags: cloneFlags, newCgroupNamespace: newCgroupNamespace)
        spawn.becomeRoot = cloneFlags & NamespaceKind.user.cloneFlag != 0
        do throws(SysError) {
            stage1PID = try ContainerSpawner.spawn(spawn)
        } catch {
            theirs.closeQuietly()
            mine.closeQuietly()
            mountNamespace?.closeQuietly()
            throw ContainerError.step("fork the container's first stage", error)
        }
        theirs.closeQuietly()
    }

    /// Handles every message waiting on the sync socket.
    public func readable() -> [Event] {
        var events: [Event] = []
        while phase != .failed && phase != .started {
            let received: (message: [UInt8], descriptors: [FileDescriptor])?
            do throws(SysError) {
                received = try channel.receive()
            } catch where error.code == Errno.EAGAIN {
                break
            } catch where error.code == Errno.ECONNRESET {
                // The process closed its end with our messages unread: it is gone, as at end of file.
                received = nil
            } catch {
                events.append(fail(.step("read the sync socket", error)))
                break
            }
            guard let received else {
                if phase == .starting {
                    phase = .started
                    events.append(.started)
                } else {
                    events.append(fail(.failed("the container's \(mode == .container ? "init" : "exec") process exited during creation")))
                }
                break
            }
            if let event = handle(received.message, descriptors: received.descriptors) { events.append(event) }
        }
        return events
    }

    func handle(_ bytes: [UInt8], descriptors: [FileDescriptor]) -> Event? {
        if phase == .spawning, let stage = ContainerStageMessage(bytes) {
            switch stage {
            case .created(let pid):
                self.pid = pid
                do throws(ContainerError) {
                    try prepare(pid)
                    phase = .initializing
                    return .spawned(pid: pid)
                } catch {
                    return fail(error)
                }
            case .failed(let step, let code):
                return fail(.step(step, SysError(step, [], code: code)))
            }
        }
        if case .failed(let step, let code)? = ContainerStageMessage(bytes), bytes.first == UInt8(ascii: "E") {
            return fail(.step(step, SysError(step, [], code: code)))
        }
        switch InitMessage(bytes) {
        case .runHooks? where phase == .initializing:
            for fd in descriptors { fd.closeQuietly() }
            phase = .hooks
            return .needsHooks
        case .ready? where phase == .initializing:
            for fd in descriptors { fd.closeQuietly() }
            do throws(ContainerError) {
                try applyLimits()
                do throws(SysError) { try channel.send(.resume) } catch { throw ContainerError.step("resume the container process", error) }
            } catch {
                return fail(error)
            }
            return nil
        case .created? where phase == .initializing:
            phase = .created
            return .created(terminal: descriptors.first)
        case .failed(let text)?:
            for fd in descriptors { fd.closeQuietly() }
            return fail(ContainerError.reported(text))
        default:
            for fd in descriptors { fd.closeQuietly() }
            return fail(.failed("unexpected message \(bytes.first.map { String(UnicodeScalar($0)) } ?? "") from the container process in phase \(phase)"))
        }
    }

    /// Stage 2 exists: ids, OOM score and cgroup before it may run any of our code.
    func prepare(_ pid: Int32) throws(ContainerError) {
        if mode == .container, let user = spec.linux.namespace(.user), user.path == nil {
            for (file, mappings) in [("uid_map", spec.linux.uidMappings), ("gid_map", spec.linux.gidMappings)] {
                let text = mappings.map { "\($0.containerID) \($0.hostID) \($0.size)\n" }.joined()
                do throws(SysError) { try FileSystem.writeFile("/proc/\(pid)/\(file)", text) } catch {
                    throw ContainerError.step("write /proc/\(pid)/\(file)", error)
                }
            }
        }
        // Not the agent's -1000: a container must stay killable by the OOM killer.
        let score = process.oomScoreAdj ?? spec.process?.oomScoreAdj ?? 0
        do throws(SysError) { try Processes.setOOMScoreAdjustment(of: pid, Int32(clamping: score)) } catch {
            throw ContainerError.step("write /proc/\(pid)/oom_score_adj", error)
        }
        try cgroup.add(pid)
        do throws(SysError) {
            _ = try Sockets.send(channel.fd, ContainerStageMessage.go, descriptors: [])
            try channel.sendInstructions(instructions, mountNamespace: mountNamespace)
            mountNamespace?.closeQuietly()
            mountNamespace = nil
        } catch {
            throw ContainerError.step("send the instructions to the container process", error)
        }
    }

    /// The spec's rlimits set from outside, while the process is still root (in a user namespace it could
    /// not raise its own; after the user change the parent may no longer be allowed to).
    func applyLimits() throws(ContainerError) {
        guard let pid else { return }
        let limits = process.rlimits.isEmpty && mode == .exec ? (spec.process?.rlimits ?? []) : process.rlimits
        for limit in limits {
            do throws(SysError) {
                try Processes.setLimit(of: pid, limit.resource, soft: limit.soft, hard: limit.hard)
            } catch {
                throw ContainerError.step("set rlimit \(ResourceLimitNames.numbers.first { $0.value == limit.resource }.map { "RLIMIT_" + $0.key } ?? "\(limit.resource)") of pid \(pid)", error)
            }
        }
    }

    /// After `.needsHooks`: nil to go on, or why the hooks failed (the init then gives up).
    public func hooksFinished(failure: String?) {
        guard phase == .hooks else { return }
        do throws(SysError) {
            try channel.send(failure.map { .hooksFailed($0) } ?? .resume)
            // On a failure the init answers with its own "failed" message, which `readable()` reports.
            phase = .initializing
        } catch {
            phase = .failed
        }
    }

    /// Lets a created process exec its program.
    public func start() throws(ContainerError) {
        guard phase == .created else { throw ContainerError.failed("container \(id) is not in the created state") }
        do throws(SysError) { try channel.send(.start) } catch { throw ContainerError.step("tell the container to start", error) }
        phase = .starting
    }

    func fail(_ error: ContainerError) -> Event {
        phase = .failed
        return .failed(error)
    }

    /// Gives up: the process (if any) is killed; the caller still reaps it and stage 1.
    public func cancel() {
        if let pid, phase != .started { try? Processes.signal(pid, Signal.kill) }
        if phase != .started { phase = .failed }
    }

    /// Closes the parent's end of the sync socket (after start, or after a failure). Idempotent: a second
    /// close(2) of the number would close whatever descriptor took it in the meantime.
    public func close() {
        if !channelClosed { channel.fd.closeQuietly() }
        channelClosed = true
        mountNamespace?.closeQuietly()
        mountNamespace = nil
    }

    /// The state for runtime-namespace hooks (prestart/createRuntime: "creating"; poststart: "running").
    public func state(_ status: ContainerStatus, bundle: String) -> ContainerState {
        ContainerState(ociVersion: spec.ociVersion, id: id, status: status, pid: pid ?? 0, bundle: bundle,
                       annotations: Dictionary(spec.annotations, uniquingKeysWith: { $1 }))
    }
}
