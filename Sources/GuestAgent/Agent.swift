// GuestAgent runs processes inside the guest on the host's behalf: it serves guestkit.v1.Agent over ttRPC
// (vsock port 1024 in a guest, a Unix socket on a host), starts programs through GuestSys' Spawner, moves
// their stdio over connections of their own, reaps them and reports their exit. One synchronous epoll loop
// does all of it (listener, connections, pipes, ptys, the SIGCHLD signalfd, deadlines); there are no
// threads. It leaves framing and dispatch to TTRPC, every system call to GuestSys, and powering the machine
// off to guest-init, which it asks over the control descriptor (contract 1: GUESTKIT_INIT_FD).
//
// Stdio: the host dials the agent's listener once per stream it asked for in StartProcess and sends one
// AttachStdio request; after the OK the connection carries that stream's raw bytes. The exit status of a
// process goes out only after each of its output streams has been drained and closed (see OutputPump).
import GuestProto
import GuestSys
import TTRPC

/// The agent: listener, connections, processes and the loop that serves them.
public final class Agent: PollTarget {
    public static let version = "0.1.0"
    static let service = "guestkit.v1.Agent"
    static let features = ["stdio-connections", "terminal", "user-by-name", "rlimits", "process-groups",
                           "wait-deadline", "shutdown-via-init"]

    let options: AgentOptions
    let loop: EventLoop
    let scratch = ScratchBuffer(size: 256 << 10)
    var methods: MethodTable<ClientConnection>
    private let listener: FileDescriptor
    private let signals: SignalDescriptor
    /// The control socket to guest-init (contract 1), nil when started some other way.
    let initChannel: FileDescriptor?
    /// Opened once: every stream the host did not ask for is this in the process.
    let devNull: FileDescriptor
    var connections: [Int: ClientConnection] = [:]
    var processes = ProcessTable()
    private var nextConnectionID = 1
    private var acceptPaused = false
    private var stopping = false

    /// Binds the listener and prepares the loop; `run()` serves.
    public init(options: AgentOptions) throws(SysError) {
        self.options = options
        // Every process holds up to three descriptors here, every attached stream one more.
        Processes.raiseOpenFileLimit()
        Signal.ignore(Signal.pipe)
        signals = try SignalDescriptor(SignalSet([Signal.child, Signal.terminate, Signal.interrupt]))
        loop = try EventLoop()
        devNull = try FileDescriptor.open("/dev/null", .readWrite)
        listener = try Sockets.listen(options.address, backlog: 1024)
        initChannel = Self.adoptInitChannel()
        methods = MethodTable(statusOf: AgentError.status(of:))
        registerMethods()
        try loop.watch(listener, .readable, self)
        try loop.watch(signals.fd, .readable, self)
    }

    /// Contract 1: guest-init passes the control socket's number in GUESTKIT_INIT_FD.
    private static func adoptInitChannel() -> FileDescriptor? {
        guard let text = Processes.environmentValue("GUESTKIT_INIT_FD"), let number = Int32(text), number >= 0 else {
            return nil
        }
        let fd = FileDescriptor(rawValue: number)
        guard (try? fd.status()) != nil else {
            AgentLog.error("GUESTKIT_INIT_FD=\(text) is not an open descriptor; Shutdown will be refused")
            return nil
        }
        // Programs the agent starts must not inherit it.
        try? fd.setCloseOnExec()
        return fd
    }

    /// Tells init the agent is ready, then serves until SIGTERM or SIGINT.
    public func run() throws(SysError) {
        AgentLog.info("version \(Self.version) listening on \(options.address)")
        if let initChannel {
            do {
                try initChannel.writeAll("READY\n")
            } catch {
                AgentLog.error("cannot tell guest-init READY on \(initChannel): \(error)")
            }
        }
        while !stopping {
            try loop.runOnce()
        }
        stopAll()
    }

    func ready(_ fd: FileDescriptor, _ events: PollEvents) {
        if fd == listener {
            acceptConnections()
        } else if fd == signals.fd {
            handleSignals()
        }
    }

    // MARK: Connections

    private func acceptConnections() {
        while !acceptPaused {
            let accepted: FileDescriptor?
            do {
                accepted = try Sockets.accept(listener)
            } catch {
                // Out of descriptors or memory: leave the backlog alone for a moment instead of spinning.
                AgentLog.error("accept on \(options.address): \(error); pausing accepts for 100 ms")
                pauseAccepting()
                return
            }
            guard let fd = accepted else { return }
            let connection = ClientConnection(id: nextConnectionID, fd: fd, agent: self)
            nextConnectionID += 1
            connections[connection.id] = connection
            do {
                try connection.start()
            } catch {
                connection.close(reason: "epoll: \(error)")
            }
        }
    }

    private func pauseAccepting() {
        acceptPaused = true
        try? loop.setInterest(listener, [])
        loop.addTimer(after: 100_000_000) { [unowned self] in
            acceptPaused = false
            try? loop.setInterest(listener, .readable)
        }
    }

    /// A connection closed or became a stdio stream: its parked calls go.
    func connectionGone(_ connection: ClientConnection) {
        connections[connection.id] = nil
        for id in connection.waitingOn {
            guard let process = processes[id] else { continue }
            for waiter in process.waiters where waiter.connectionID == connection.id {
                if let timer = waiter.timerID { loop.cancelTimer(timer) }
            }
            process.waiters.removeAll { $0.connectionID == connection.id }
        }
        connection.waitingOn = []
    }

    /// Answers a parked call, if its connection is still there.
    func answer(connectionID: Int, streamID: UInt32, _ result: Result<[UInt8], RPCError>) {
        guard let connection = connections[connectionID] else { return }
        connection.send(MethodTable<ClientConnection>.encodeReply(streamID: streamID, result))
        connection.finishStream(streamID)
    }

    // MARK: Signals and reaping

    private func handleSignals() {
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
                reapChildren()
            case Signal.terminate, Signal.interrupt:
                AgentLog.info("\(Signal.name(info.signal)) from pid \(info.senderPID): stopping")
                stopping = true
            default:
                break
            }
        }
    }

    private func reapChildren() {
        while true {
            let reaped: (pid: Int32, status: WaitStatus)?
            do {
                reaped = try Processes.reapOne()
            } catch {
                return  // ECHILD: no children left
            }
            guard let (pid, status) = reaped else { return }
            switch status {
            case .stopped, .continued: continue
            default: break
            }
            guard let process = processes.process(pid: pid) else { continue }
            processExited(process, status)
        }
    }

    /// Leaving: the processes this agent started go with it (their whole groups), and a Unix socket file
    /// is removed.
    private func stopAll() {
        for process in processes.all where process.exit == nil {
            try? Processes.signal(-process.pid, Signal.kill)
        }
        if case .unix(let path) = options.address { try? FileSystem.unlink(path) }
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
