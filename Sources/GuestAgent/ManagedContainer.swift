import GuestContainer
import GuestProto
import GuestSys

/// A container the agent created: its bundle and cgroup, where it stands, its init and exec processes,
/// the storage mounted for it, and the calls parked on it.
final class ManagedContainer {
    let id: String
    let bundle: ContainerBundle
    let cgroup: ContainerCgroup
    /// Targets mounted for this container by CreateContainer, in mount order.
    let storage: [String]
    /// The directory the agent made for a spec given without a bundle (removed with the container).
    let ownBundleDirectory: String?
    let declared: (stdin: Bool, stdout: Bool, stderr: Bool)
    var status: ContainerStatus = .creating
    var pid: Int32 = 0
    /// The init once it exists (adopted by the process supervisor).
    var initProcess: ManagedProcess?
    /// The init's launch until it has exec'd the program (or failed).
    var launch: LaunchWatcher?
    var exit: WaitStatus?
    var createdAt: UInt64 = 0
    var startedAt: UInt64 = 0
    var exitedAt: UInt64 = 0
    /// Exec processes by id, while their launch runs or the process is known.
    var execs: [String: ExecProcess] = [:]
    var createCall: ParkedCall?
    var startCall: ParkedCall?
    var oomWaiters: [(call: ParkedCall, known: UInt64, timer: Int?)] = []
    /// Set once DeleteContainer (or a failed create) began taking it apart.
    var tearingDown = false

    init(id: String, bundle: ContainerBundle, cgroup: ContainerCgroup, storage: [String], ownBundleDirectory: String?,
         declared: (stdin: Bool, stdout: Bool, stderr: Bool)) {
        self.id = id
        self.bundle = bundle
        self.cgroup = cgroup
        self.storage = storage
        self.ownBundleDirectory = ownBundleDirectory
        self.declared = declared
    }

    /// The OCI state (for hooks and ContainerState).
    func state(_ status: ContainerStatus? = nil) -> ContainerState {
        ContainerState(ociVersion: bundle.spec.ociVersion, id: id, status: status ?? self.status,
                       pid: (status ?? self.status) == .stopped ? 0 : pid, bundle: bundle.path,
                       annotations: Dictionary(bundle.spec.annotations, uniquingKeysWith: { $1 }))
    }

    var info: Guestkit_V1_ContainerInfo {
        var info = Guestkit_V1_ContainerInfo()
        info.id = id
        switch status {
        case .creating: info.status = .creating
        case .created: info.status = .created
        case .running: info.status = .running
        case .paused: info.status = .paused
        case .stopped: info.status = .stopped
        }
        info.pid = status == .stopped ? 0 : pid
        info.bundle = bundle.path
        switch exit {
        case .exited(let code)?: info.exitCode = code
        case .signaled(let signal, _)?: info.signal = signal
        default: break
        }
        info.createdBoottimeNs = createdAt
        info.startedBoottimeNs = startedAt
        info.exitedBoottimeNs = exitedAt
        info.stateJson = state().json.serialized
        info.oomKills = cgroup.oomKillCount
        info.execIds = execs.keys.sorted()
        return info
    }
}

/// An exec into a container, from its launch to its process.
final class ExecProcess {
    let id: String
    let spec: ProcessSpec
    let declared: (stdin: Bool, stdout: Bool, stderr: Bool)
    var launch: LaunchWatcher?
    var process: ManagedProcess?
    var call: ParkedCall?

    init(id: String, spec: ProcessSpec, declared: (stdin: Bool, stdout: Bool, stderr: Bool)) {
        self.id = id
        self.spec = spec
        self.declared = declared
    }
}

/// A `ContainerLaunch` in the agent's loop: its sync socket watched, its events handed on.
final class LaunchWatcher: PollTarget {
    let launch: ContainerLaunch
    /// The stdio ends made for the process before the launch (pipes, or /dev/null for a terminal one).
    var stdio: ProcessStdio
    private let loop: EventLoop
    private let events: (ContainerLaunch.Event) -> Void
    private var watching = false

    init(_ launch: ContainerLaunch, stdio: ProcessStdio, loop: EventLoop, events: @escaping (ContainerLaunch.Event) -> Void) throws(SysError) {
        self.launch = launch
        self.stdio = stdio
        self.loop = loop
        self.events = events
        try loop.watch(launch.channel.fd, .readable, self)
        watching = true
    }

    func ready(_ fd: FileDescriptor, _ events: PollEvents) {
        for event in launch.readable() { self.events(event) }
        if launch.phase == .failed || launch.phase == .started { stop() }
    }

    /// No more events: the socket leaves the loop and is closed.
    func stop() {
        guard watching else { return }
        watching = false
        loop.unwatch(launch.channel.fd)
        launch.close()
    }
}
