import Dispatch
import Foundation
import GuestProto
import GuestSys

/// Runs one remote process with local descriptors wired to its stdio, the way `guestctl exec` does: start
/// it (asking only for the streams that have a local end), then a `StdioSession` until its exit status.
public struct ProcessRun: Sendable {
    public var request: Guestkit_V1_StartProcessRequest
    /// Local source of the process's stdin; nil: not attached (/dev/null remotely).
    public var stdin: FileDescriptor?
    /// Local sinks; nil: not attached. With a terminal, stdout receives the terminal's output.
    public var stdout: FileDescriptor?
    public var stderr: FileDescriptor?

    public init(request: Guestkit_V1_StartProcessRequest, stdin: FileDescriptor? = nil, stdout: FileDescriptor? = nil,
                stderr: FileDescriptor? = nil) {
        self.request = request
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Runs to completion. `started` is called once the process runs (e.g. to start forwarding resizes).
    public func run(on client: GuestClient,
                    started: (Guestkit_V1_StartProcessResponse) -> Void = { _ in }) throws(GuestClientError) -> ProcessExit {
        var request = self.request
        request.stdin = stdin != nil
        request.stdout = stdout != nil
        request.stderr = stderr != nil && !request.terminal
        let process = try client.startProcess(request)
        started(process)
        return try StdioSession(stdin: stdin, stdout: stdout, stderr: request.stderr ? stderr : nil)
            .run(on: client, id: process.id, container: "") { () throws(GuestClientError) in try client.wait(process.id) }
    }
}

/// A remote process's streams wired to local descriptors: each attached on its own connection and copied
/// on a thread, until `finish` (the wait) returns; the output copies then drain what is already on the way
/// (the agent closed those streams before it answered the wait).
public struct StdioSession: Sendable {
    public var stdin: FileDescriptor?
    public var stdout: FileDescriptor?
    public var stderr: FileDescriptor?

    public init(stdin: FileDescriptor?, stdout: FileDescriptor?, stderr: FileDescriptor?) {
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
    }

    /// Attaches, runs `between` (e.g. StartContainer once the streams are attached), then `finish`.
    public func run(on client: GuestClient, id: String, container: String,
                    between: () throws(GuestClientError) -> Void = {},
                    finish: () throws(GuestClientError) -> ProcessExit) throws(GuestClientError) -> ProcessExit {
        let copies = DispatchGroup()
        var outputs: [FileDescriptor] = []
        do throws(GuestClientError) {
            for (local, stream) in [(stdout, Guestkit_V1_StdioStream.stdout), (stderr, .stderr)] {
                guard let local else { continue }
                let remote = try client.attach(id, stream, container: container)
                outputs.append(remote)
                copies.enter()
                Thread.detachNewThread {
                    StreamCopy.copy(from: remote, to: local)
                    copies.leave()
                }
            }
            if let stdin {
                let remote = try client.attach(id, .stdin, container: container)
                // The copy thread owns this one: it may still be blocked reading the local stdin when the
                // process ends, and closes the connection when it is done.
                Thread.detachNewThread {
                    StreamCopy.copy(from: stdin, to: remote)
                    try? Sockets.shutdown(remote, .write)
                    remote.closeQuietly()
                }
            }
            try between()
            let status = try finish()
            copies.wait()
            for fd in outputs { fd.closeQuietly() }
            return status
        } catch {
            // Wake the copy threads (shutdown, not close: they may be inside read) before closing.
            for fd in outputs { try? Sockets.shutdown(fd, .both) }
            copies.wait()
            for fd in outputs { fd.closeQuietly() }
            throw error
        }
    }
}

/// Blocking byte copies between descriptors, for the stdio threads.
public enum StreamCopy {
    /// Copies until end of file or an error on either side; returns the number of bytes copied.
    @discardableResult
    public static func copy(from source: FileDescriptor, to sink: FileDescriptor) -> Int {
        var buffer = [UInt8](repeating: 0, count: 128 << 10)
        var total = 0
        while true {
            let n: Int
            do {
                n = try buffer.withUnsafeMutableBytes { raw in try source.read(into: raw) }
            } catch {
                return total
            }
            if n == 0 { return total }
            do {
                try buffer.withUnsafeBytes { raw in try sink.writeAll(UnsafeRawBufferPointer(rebasing: raw[0..<n])) }
            } catch {
                return total
            }
            total += n
        }
    }
}

/// The local terminal of an interactive `exec -t`: raw mode while the remote process runs, and its size
/// changes (SIGWINCH) forwarded.
public final class LocalTerminal: @unchecked Sendable {
    // Mutated only on the main thread before and after the run; the signal source runs on its own queue
    // and only reads `fd`.
    private let fd: FileDescriptor
    private var saved: termios?
    private var resizeSource: DispatchSourceSignal?

    public init(_ fd: FileDescriptor = .standardInput) {
        self.fd = fd
    }

    public var size: WindowSize? { try? Terminals.size(fd) }

    public func enterRawMode() throws(SysError) {
        saved = try Terminals.makeRaw(fd)
    }

    /// Calls `onResize` with the new size after every SIGWINCH.
    public func watchResizes(_ onResize: @escaping @Sendable (WindowSize) -> Void) {
        Signal.ignore(Signal.windowChange)  // delivered to the dispatch source instead
        let source = DispatchSource.makeSignalSource(signal: Signal.windowChange, queue: .global())
        let fd = self.fd
        source.setEventHandler {
            if let size = try? Terminals.size(fd) { onResize(size) }
        }
        source.resume()
        resizeSource = source
    }

    /// Restores the terminal's settings and stops watching resizes.
    public func restore() {
        resizeSource?.cancel()
        resizeSource = nil
        if let saved { try? Terminals.setAttributes(fd, saved) }
        saved = nil
    }
}
