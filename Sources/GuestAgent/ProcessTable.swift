import GuestProto
import GuestSys

/// Where one output stream (stdout or stderr) of a process stands.
enum OutputEnd {
    /// Not asked for: /dev/null in the process, nothing to deliver.
    case none
    /// Asked for, not attached yet: the agent holds the read end and reads nothing, so output stays in the
    /// pipe (or pty) and the process blocks once it is full.
    case waiting(FileDescriptor)
    case attached(OutputPump)
    /// Delivered and closed.
    case done

    var isFinished: Bool {
        switch self {
        case .none, .done: return true
        case .waiting: return false
        case .attached(let pump): return pump.finished
        }
    }
}

/// Where a process's stdin stands.
enum InputEnd {
    case none
    case waiting(FileDescriptor)
    case attached(InputPump)
    case closed
}

/// A call parked on a process until it can be answered (WaitProcess).
struct Waiter {
    let call: ParkedCall
    var timerID: Int?
}

/// A process the agent started: identity, stdio ends, exit status once reaped, and who waits for it.
final class ManagedProcess {
    let id: String
    /// Empty for a process of the guest; a container's init has id = containerID.
    let containerID: String
    let pid: Int32
    let arguments: [String]
    let startedAt: UInt64
    /// The pty controller, kept for ResizeTerminal; the pumps use duplicates of it.
    var terminal: FileDescriptor?
    var stdin: InputEnd
    var stdout: OutputEnd
    var stderr: OutputEnd
    var exit: WaitStatus?
    var exitedAt: UInt64 = 0
    var waiters: [Waiter] = []
    /// Cloned, and not yet known to have exec'd.
    var starting = false
    /// The streams StartProcess said the host will attach.
    var declared: (stdin: Bool, stdout: Bool, stderr: Bool) = (false, false, false)

    init(id: String, containerID: String = "", pid: Int32, arguments: [String], terminal: FileDescriptor?, stdin: InputEnd,
         stdout: OutputEnd, stderr: OutputEnd) {
        self.id = id
        self.containerID = containerID
        self.pid = pid
        self.arguments = arguments
        self.startedAt = Clock.bootTimeNanoseconds
        self.terminal = terminal
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Declared streams still waiting for their AttachStdio (each holds a pipe end).
    var unattachedStreams: Int {
        var count = 0
        if declared.stdin, case .waiting = stdin { count += 1 }
        if declared.stdout, case .waiting = stdout { count += 1 }
        if declared.stderr, case .waiting = stderr { count += 1 }
        return count
    }

    /// Reaped and every output stream delivered: the exit status may go out.
    var isComplete: Bool { exit != nil && stdout.isFinished && stderr.isFinished }

    var waitResponse: Guestkit_V1_WaitProcessResponse {
        var response = Guestkit_V1_WaitProcessResponse()
        switch exit {
        case .exited(let code)?: response.exitCode = code
        case .signaled(let signal, let core)?:
            response.signal = signal
            response.coreDumped = core
        default: break
        }
        response.exitedBoottimeNs = exitedAt
        return response
    }

    var entry: Guestkit_V1_ProcessEntry {
        var entry = Guestkit_V1_ProcessEntry()
        entry.id = id
        entry.pid = pid
        entry.args = arguments
        entry.terminal = terminal != nil
        entry.startedBoottimeNs = startedAt
        entry.containerID = containerID
        if exit != nil {
            entry.state = .exited
            let wait = waitResponse
            entry.exitCode = wait.exitCode
            entry.signal = wait.signal
        } else {
            entry.state = .running
        }
        return entry
    }

    /// Closes every descriptor still held for this process.
    func closeAll() {
        if case .waiting(let fd) = stdin { fd.closeQuietly() }
        if case .attached(let pump) = stdin { pump.finish() }
        stdin = .closed
        for end in [stdout, stderr] {
            if case .waiting(let fd) = end { fd.closeQuietly() }
            if case .attached(let pump) = end { pump.finish() }
        }
        terminal?.closeQuietly()
        terminal = nil
    }
}

/// The agent's processes by (container, id) and by pid, in start order. Container ids cannot hold "/",
/// so "container/id" keys never collide with a guest process's id (container "").
struct ProcessTable {
    private(set) var byID: [String: ManagedProcess] = [:]
    private var idByPID: [Int32: String] = [:]
    private var order: [String] = []
    private var counter = 0

    var count: Int { byID.count }

    static func key(_ id: String, container: String) -> String { container.isEmpty ? id : container + "/" + id }
    static func key(_ process: ManagedProcess) -> String { key(process.id, container: process.containerID) }

    subscript(id: String) -> ManagedProcess? { byID[id] }

    subscript(id: String, container container: String) -> ManagedProcess? { byID[Self.key(id, container: container)] }

    func process(pid: Int32) -> ManagedProcess? { idByPID[pid].flatMap { byID[$0] } }

    /// An unused id of the form "p<N>".
    mutating func newID() -> String {
        while true {
            counter += 1
            let id = "p\(counter)"
            if byID[id] == nil { return id }
        }
    }

    mutating func insert(_ process: ManagedProcess) {
        let key = Self.key(process)
        byID[key] = process
        idByPID[process.pid] = key
        order.append(key)
    }

    mutating func remove(_ process: ManagedProcess) {
        let key = Self.key(process)
        guard byID[key] === process else { return }
        byID[key] = nil
        if idByPID[process.pid] == key { idByPID[process.pid] = nil }
        if let index = order.firstIndex(of: key) { order.remove(at: index) }
    }

    /// Forgets the pid once reaped: the kernel may hand it to a new process.
    mutating func reaped(_ process: ManagedProcess) {
        if idByPID[process.pid] == Self.key(process) { idByPID[process.pid] = nil }
    }

    var all: [ManagedProcess] { order.compactMap { byID[$0] } }
}
