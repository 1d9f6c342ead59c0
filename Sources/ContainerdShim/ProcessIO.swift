import Foundation
import GuestClient
import GuestProto
import GuestSys
import Synchronization

/// The FIFOs containerd named for one process (empty: not wanted) and whether it runs on a terminal.
struct StdioPaths: Sendable, Equatable {
    var stdin = ""
    var stdout = ""
    var stderr = ""
    var terminal = false
}

/// Copies one process's stdio between containerd's FIFOs and the agent's stream connections, a thread per
/// stream. Output streams end when the agent closes them (after the process exited and its output was
/// drained), so `waitForOutput` returning means every byte reached the FIFOs; stdin ends at the FIFO's EOF
/// (its writer closed it), which half-closes the agent's stream so the process reads EOF after every byte.
/// What arrives from the guest is copied, never interpreted.
final class ProcessIO: Sendable {
    private struct State {
        var outputsLeft = 0
        var stdinSocket: FileDescriptor?
        var stdinDone = false
    }

    private let label: String
    private let log: ShimLog
    private let state = Mutex(State())
    /// Signalled whenever an output stream finishes.
    private let outputFinished = NSCondition()

    init(label: String, log: ShimLog) {
        self.label = label
        self.log = log
    }

    /// Attaches the agent's streams of process `processID` (of container `containerID`) that `paths` asks
    /// for and starts copying. Call after the process exists in the guest; output waits for the attach.
    func start(paths: StdioPaths, client: GuestClient, processID: String, containerID: String) throws(ShimError) {
        var outputs: [(Guestkit_V1_StdioStream, String)] = []
        if !paths.stdout.isEmpty { outputs.append((.stdout, paths.stdout)) }
        if !paths.stderr.isEmpty && !paths.terminal { outputs.append((.stderr, paths.stderr)) }
        var sockets: [(FileDescriptor, String, Guestkit_V1_StdioStream)] = []
        do throws(GuestClientError) {
            for (stream, path) in outputs {
                sockets.append((try client.attach(processID, stream, container: containerID), path, stream))
            }
            if !paths.stdin.isEmpty {
                sockets.append((try client.attach(processID, .stdin, container: containerID), paths.stdin, .stdin))
            }
        } catch {
            for (fd, _, _) in sockets { fd.closeQuietly() }
            throw .agent("attaching the stdio of \(processID)", error)
        }
        state.withLock { $0.outputsLeft = outputs.count }
        for (socket, path, stream) in sockets {
            if stream == .stdin {
                state.withLock { $0.stdinSocket = socket }
                spawn("\(label) stdin") { [self] in copyStdin(from: path, to: socket) }
            } else {
                spawn("\(label) \(stream == .stdout ? "stdout" : "stderr")") { [self] in copyOutput(from: socket, to: path) }
            }
        }
    }

    /// Blocks until every output stream reached EOF and was written to its FIFO (or `timeout` passed).
    /// Returns false on timeout.
    @discardableResult
    func waitForOutput(timeout: Duration) -> Bool {
        let deadline = Date(timeIntervalSinceNow: Double(timeout.components.seconds))
        outputFinished.lock()
        defer { outputFinished.unlock() }
        while state.withLock({ $0.outputsLeft }) > 0 {
            if !outputFinished.wait(until: deadline) { return state.withLock { $0.outputsLeft } == 0 }
        }
        return true
    }

    /// CloseIO: containerd's writer closed stdin. The copier stops at the FIFO's EOF by itself; if it is
    /// still blocked (nobody ever opened the FIFO), the agent's stream is half-closed now.
    func closeStdin() {
        let socket: FileDescriptor? = state.withLock { s in
            guard !s.stdinDone, let fd = s.stdinSocket else { return nil }
            return fd
        }
        guard let socket else { return }
        // Give a copier that is draining the FIFO a moment to reach EOF on its own.
        for _ in 0..<200 {
            if state.withLock({ $0.stdinDone }) { return }
            Thread.sleep(forTimeInterval: 0.005)
        }
        try? Sockets.shutdown(socket, .write)
    }

    private func spawn(_ name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        thread.start()
    }

    private func copyOutput(from socket: FileDescriptor, to path: String) {
        defer {
            socket.closeQuietly()
            outputFinished.lock()
            state.withLock { $0.outputsLeft -= 1 }
            outputFinished.broadcast()
            outputFinished.unlock()
        }
        var fifo: FileDescriptor?
        do throws(SysError) {
            fifo = try FileDescriptor.open(path, .writeOnly)
        } catch {
            log.error("\(label): cannot open \(path) for writing: \(error); output is dropped")
        }
        defer { fifo?.closeQuietly() }
        var buffer = [UInt8](repeating: 0, count: 128 << 10)
        while true {
            let count: Int
            do {
                count = try buffer.withUnsafeMutableBytes { bytes throws(SysError) in try socket.read(into: bytes) }
            } catch {
                log.error("\(label): reading the agent's stream: \(error)")
                return
            }
            if count == 0 { return }
            guard let out = fifo else { continue }
            do {
                try buffer.withUnsafeBytes { bytes in try out.writeAll(UnsafeRawBufferPointer(rebasing: bytes[0..<count])) }
            } catch {
                // The reader went away: keep draining the guest so the process is not blocked on its output.
                log.info("\(label): \(path): \(error); dropping the rest of the output")
                out.closeQuietly()
                fifo = nil
            }
        }
    }

    private func copyStdin(from path: String, to socket: FileDescriptor) {
        defer {
            try? Sockets.shutdown(socket, .write)
            state.withLock { $0.stdinDone = true }
        }
        let fifo: FileDescriptor
        do throws(SysError) {
            fifo = try FileDescriptor.open(path, .readOnly)
        } catch {
            log.error("\(label): cannot open \(path) for reading: \(error); stdin is empty")
            return
        }
        defer { fifo.closeQuietly() }
        var buffer = [UInt8](repeating: 0, count: 128 << 10)
        while true {
            let count: Int
            do {
                count = try buffer.withUnsafeMutableBytes { bytes throws(SysError) in try fifo.read(into: bytes) }
            } catch {
                log.error("\(label): reading \(path): \(error)")
                return
            }
            if count == 0 { return }
            do {
                try buffer.withUnsafeBytes { bytes in try Sockets.sendAll(socket, UnsafeRawBufferPointer(rebasing: bytes[0..<count])) }
            } catch {
                log.info("\(label): the guest closed stdin (\(error))")
                return
            }
        }
    }
}
