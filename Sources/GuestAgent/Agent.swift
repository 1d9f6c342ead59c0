// GuestAgent runs processes inside the guest on the host's behalf: it serves guestkit.v1.Agent over ttRPC
// (vsock port 1024 in a guest, a Unix socket on a host), starts programs through GuestSys' Spawner, moves
// their stdio over connections of their own, reaps them and reports their exit. One synchronous epoll loop
// does all of it (listener, connections, pipes, ptys, the SIGCHLD signalfd, deadlines); there are no
// threads. It leaves framing and dispatch to TTRPC, every system call to GuestSys, and powering the machine
// off to guest-init, which it asks over the control descriptor (contract 1: GUESTKIT_INIT_FD).
//
// The parts, each in its own file: `ConnectionServer` (listener, connections, answers to parked calls),
// `AgentService` (the RPC surface), `ProcessSupervisor` (spawn, signals, reaping, waits), `StdioRouter`
// (stdio streams and terminals), `ContainerSupervisor` (OCI containers, through GuestContainer),
// `InitChannel` (guest-init). `Agent` only builds them and runs the loop.
//
// Stdio: the host dials the agent's listener once per stream it asked for in StartProcess and sends one
// AttachStdio request; after the OK the connection carries that stream's raw bytes. The exit status of a
// process goes out only after each of its output streams has been drained and closed (see OutputPump).
import GuestProto
import GuestSys
import TTRPC

/// The agent: builds its parts, then runs the loop that serves them until SIGTERM or SIGINT.
public final class Agent: PollTarget {
    public static let version = "0.1.0"
    static let features = ["stdio-connections", "terminal", "user-by-name", "rlimits", "process-groups",
                           "wait-deadline", "shutdown-via-init", "oci-containers", "network"]

    private let loop: EventLoop
    private let signals: SignalDescriptor
    private let server: ConnectionServer
    private let supervisor: ProcessSupervisor
    private let containers: ContainerSupervisor
    private let service: AgentService
    private let initChannel: InitChannel?
    private var stopping = false

    /// Binds the listener and prepares the loop; `run()` serves.
    public init(options: AgentOptions) throws(SysError) {
        // Every process holds up to three descriptors here, every attached stream one more.
        Processes.raiseOpenFileLimit()
        Signal.ignore(Signal.pipe)
        signals = try SignalDescriptor(SignalSet([Signal.child, Signal.terminate, Signal.interrupt]))
        loop = try EventLoop()
        let scratch = ScratchBuffer(size: 256 << 10)
        let router = StdioRouter(loop: loop, scratch: scratch)
        server = try ConnectionServer(address: options.address, allowedCIDs: options.allowedCIDs,
                                      maximumConnections: options.maximumConnections, loop: loop, scratch: scratch,
                                      methods: MethodTable(statusOf: AgentError.status(of:)))
        supervisor = try ProcessSupervisor(loop: loop, router: router, calls: server, limits: options.limits)
        containers = try ContainerSupervisor(loop: loop, processes: supervisor, router: router, calls: server)
        initChannel = InitChannel.adopt()
        if initChannel != nil && Processes.parentID == 1 {
            supervisor.childCgroupProcs = AgentProtection.apply()
            supervisor.childOOMScoreAdjustment = 0
        }
        service = AgentService(options: options, supervisor: supervisor, containers: containers, router: router,
                               initChannel: initChannel)
        server.methods = service.methodTable()
        server.connectionGone = { [unowned supervisor] connection in supervisor.connectionGone(connection.id) }
        server.attachStream = { [unowned router] connection, pending, leftover in
            router.attach(connection, pending, leftover: leftover)
        }
        try loop.watch(signals.fd, .readable, self)
    }

    /// Tells init the agent is ready, then serves until SIGTERM or SIGINT.
    public func run() throws(SysError) {
        AgentLog.info("version \(Self.version) listening on \(server.address)")
        initChannel?.sayReady()
        defer { stop() }
        while !stopping {
            try loop.runOnce()
        }
    }

    func ready(_ fd: FileDescriptor, _ events: PollEvents) {
        let received: [SignalInfo]
        do {
            received = try signals.readAll()
        } catch {
            AgentLog.error("signalfd: \(error)")
            return
        }
        for info in received {
            switch info.signal {
            case Signal.child:
                supervisor.reapChildren()
            case Signal.terminate, Signal.interrupt:
                AgentLog.info("\(Signal.name(info.signal)) from pid \(info.senderPID): stopping")
                stopping = true
            default:
                break
            }
        }
    }

    /// Leaving: the processes this agent started go with it, and a Unix socket file is removed.
    private func stop() {
        containers.killAll()
        supervisor.killAll()
        server.stop()
    }
}

/// Log lines on stderr (guest-init sends them to the console or its log).
enum AgentLog {
    static func info(_ message: String) { write("guest-agent: " + message + "\n") }
    static func error(_ message: String) { write("guest-agent: error: " + message + "\n") }

    private static func write(_ line: String) {
        try? FileDescriptor.standardError.writeAll(line)
    }
}
