import ContainerdProto
import Foundation
import SwiftProtobuf
import Synchronization

/// One process of a task as containerd sees it: the container's init (exec id "") or an exec. Its status
/// moves created → running → stopped; once stopped it has an exit status (128+N for signal N) and the
/// time the shim saw the exit, and `wait` returns. The stdio is copied by its `ProcessIO`.
final class ShimProcess: Sendable {
    enum Status: Sendable, Equatable {
        case created
        case running
        case stopped
    }

    struct Exit: Sendable, Equatable {
        var status: UInt32
        var at: Date
    }

    private struct State {
        var status = Status.created
        var pid: UInt32 = 0
        var exit: Exit?
    }

    /// containerd's exec id; "" for the init process.
    let execID: String
    /// The process's id in the agent: the container id for the init, the exec id otherwise.
    let agentID: String
    let stdio: StdioPaths
    /// The exec's OCI Process (JSON); nil for the init, whose process is the spec's.
    let processJSON: [UInt8]?
    let io: ProcessIO
    private let state = Mutex(State())
    private let exited = NSCondition()

    init(execID: String, agentID: String, stdio: StdioPaths, processJSON: [UInt8]?, io: ProcessIO) {
        self.execID = execID
        self.agentID = agentID
        self.stdio = stdio
        self.processJSON = processJSON
        self.io = io
    }

    var status: Status { state.withLock { $0.status } }
    var pid: UInt32 { state.withLock { $0.pid } }
    var exit: Exit? { state.withLock { $0.exit } }

    func markRunning(pid: UInt32) {
        state.withLock { s in
            guard s.status == .created else { return }
            s.status = .running
            s.pid = pid
        }
    }

    func setPID(_ pid: UInt32) { state.withLock { $0.pid = pid } }

    /// Records the exit (the first one wins) and wakes every `wait`. Returns false if it was known already.
    @discardableResult
    func markExited(status: UInt32, at: Date = Date()) -> Bool {
        exited.lock()
        defer { exited.unlock() }
        let first = state.withLock { s -> Bool in
            guard s.exit == nil else { return false }
            s.exit = Exit(status: status, at: at)
            s.status = .stopped
            return true
        }
        exited.broadcast()
        return first
    }

    /// Blocks until the process has exited (and its output reached the FIFOs: the exit is recorded only
    /// after that).
    func wait() -> Exit {
        exited.lock()
        defer { exited.unlock() }
        while true {
            if let exit = state.withLock({ $0.exit }) { return exit }
            exited.wait()
        }
    }

    /// containerd's view of the status.
    var containerdStatus: Containerd_V1_Types_Status {
        switch status {
        case .created: return .created
        case .running: return .running
        case .stopped: return .stopped
        }
    }
}
