import GuestSys

/// One reusable read buffer for the whole loop: bytes are read into it and written on at once, so memory
/// stays flat however many streams are open; only what a full socket or pipe refuses is copied aside.
final class ScratchBuffer {
    let bytes: UnsafeMutableRawBufferPointer

    init(size: Int) {
        // Lives as long as the agent: never freed.
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
    }
}

/// Bytes a pump read but its sink did not take yet. At most one read's worth, so bounded by the scratch
/// buffer: the rest waits in the kernel (pipe, pty, socket buffers), which is the backpressure.
struct PendingBytes {
    private var bytes: [UInt8] = []
    private var offset = 0

    init(_ initial: [UInt8] = []) { bytes = initial }

    var isEmpty: Bool { offset >= bytes.count }

    mutating func set(_ buffer: UnsafeRawBufferPointer) {
        bytes = Array(buffer)
        offset = 0
    }

    mutating func set(_ new: [UInt8]) {
        bytes = new
        offset = 0
    }

    /// Writes what it can to `fd`.
    mutating func flush(to fd: FileDescriptor) -> IOResult {
        let result = bytes.withUnsafeBytes { fd.writeNonBlocking(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
        if case .bytes(let n) = result {
            offset += n
            if offset >= bytes.count {
                bytes = []
                offset = 0
            }
        }
        return result
    }
}

/// Moves a process's output (pipe read end or pty controller) to the host connection attached for it.
///
/// The exit rule lives here: while the process runs, an empty source means "wait"; once it has been reaped
/// (`processDidExit`), everything it wrote is already in the pipe (or in the pty, which a read flushes), so
/// the first empty read ends the stream — even when a background child still holds the pipe open. A child
/// that keeps *writing* cannot hold it open either: after the reap the pump moves at most what the source
/// held at that moment (FIONREAD; plus slack for a pty, whose line discipline may still hold bytes the count
/// misses). The pump then closes the connection (EOF to the host) and reports that it finished; only after
/// every output pump of a process has finished does WaitProcess answer.
final class OutputPump: PollTarget {
    let label: String
    private let source: FileDescriptor
    /// nil: nobody attached and nobody will (a terminal whose output the host did not ask for): drain and drop.
    private let sink: FileDescriptor?
    private unowned let loop: EventLoop
    private let scratch: ScratchBuffer
    private var pending: PendingBytes
    private var processExited = false
    private(set) var finished = false
    private let onFinish: () -> Void
    /// A pty's line discipline may hold bytes FIONREAD does not count yet: its drain gets slack.
    private let sourceIsPipe: Bool
    /// After the reap: how many more bytes the process may still be owed; nil while it runs.
    private var drainBudget: Int?

    /// `initialBytes` go to the host before any of the source's (e.g. the AttachStdio response).
    init(label: String, source: FileDescriptor, sink: FileDescriptor?, initialBytes: [UInt8], processExited: Bool,
         sourceIsPipe: Bool = false, loop: EventLoop, scratch: ScratchBuffer, onFinish: @escaping () -> Void) {
        self.sourceIsPipe = sourceIsPipe
        self.label = label
        self.source = source
        self.sink = sink
        self.loop = loop
        self.scratch = scratch
        self.pending = PendingBytes(initialBytes)
        self.onFinish = onFinish
        if processExited { markExited() }
    }

    private func markExited() {
        processExited = true
        let held = (try? source.readableByteCount()) ?? 0
        drainBudget = held + (sourceIsPipe ? 0 : 1 << 20)
    }

    func start() {
        do {
            try loop.watch(source, [], self)
            if let sink { try loop.watch(sink, [], self) }
        } catch {
            AgentLog.error("\(label): cannot watch descriptors: \(error)")
            finish()
            return
        }
        pump()
    }

    func processDidExit() {
        markExited()
        pump()
    }

    /// How much the next read may take.
    private func allowance(_ size: Int) -> Int { min(size, drainBudget ?? size) }

    private func moved(_ n: Int) {
        if let budget = drainBudget { drainBudget = budget - n }
    }

    func ready(_ fd: FileDescriptor, _ events: PollEvents) { pump() }

    private func pump() {
        guard !finished else { return }
        // A bounded number of reads per turn keeps one busy stream from starving the others.
        for _ in 0..<16 {
            if !pending.isEmpty, let sink {
                switch pending.flush(to: sink) {
                case .bytes, .endOfFile: break
                case .wouldBlock: return wait(sinkWritable: true)
                case .failed(let error): return hostGone(error)
                }
                if !pending.isEmpty { continue }
            }
            if let budget = drainBudget, budget <= 0 { return finish() }
            switch source.readNonBlocking(into: UnsafeMutableRawBufferPointer(rebasing: scratch.bytes[0..<allowance(scratch.bytes.count)])) {
            case .bytes(let n):
                moved(n)
                guard let sink else { continue }
                let chunk = UnsafeRawBufferPointer(rebasing: scratch.bytes[0..<n])
                switch sink.writeNonBlocking(chunk) {
                case .bytes(let written):
                    if written < n { pending.set(UnsafeRawBufferPointer(rebasing: chunk[written...])) }
                case .endOfFile: break
                case .wouldBlock:
                    pending.set(chunk)
                    return wait(sinkWritable: true)
                case .failed(let error): return hostGone(error)
                }
            case .wouldBlock:
                if processExited { return finish() }
                return wait(sinkWritable: false)
            case .endOfFile:
                return finish()
            case .failed(let error):
                AgentLog.error("\(label): \(error); closing the stream")
                return finish()
            }
        }
        wait(sinkWritable: !pending.isEmpty)
    }

    private func wait(sinkWritable: Bool) {
        do {
            try loop.setInterest(source, sinkWritable ? [] : .readable)
            if let sink { try loop.setInterest(sink, sinkWritable ? .writable : []) }
        } catch {
            AgentLog.error("\(label): epoll: \(error)")
            finish()
        }
    }

    private func hostGone(_ error: SysError) {
        AgentLog.info("\(label): host connection gone (\(error.name)); closing the process's end")
        finish()
    }

    /// Closes both ends; the host sees EOF. Safe to call twice.
    func finish() {
        guard !finished else { return }
        finished = true
        loop.unwatch(source)
        source.closeQuietly()
        if let sink {
            loop.unwatch(sink)
            Sockets.end(sink)
        }
        onFinish()
    }
}

/// Moves the host's stdin bytes from its connection into the process's stdin pipe (or terminal). The host
/// ends stdin by half-closing the connection: the pipe is closed once every byte is written; for a
/// terminal, which cannot be closed from this side, the EOF character (^D) is written instead.
final class InputPump: PollTarget {
    let label: String
    private let source: FileDescriptor
    private let sink: FileDescriptor
    private let terminal: Bool
    private unowned let loop: EventLoop
    private let scratch: ScratchBuffer
    private var pending: PendingBytes
    private var sourceEnded = false
    private(set) var finished = false

    init(label: String, source: FileDescriptor, sink: FileDescriptor, terminal: Bool, initialBytes: [UInt8],
         loop: EventLoop, scratch: ScratchBuffer) {
        self.label = label
        self.source = source
        self.sink = sink
        self.terminal = terminal
        self.loop = loop
        self.scratch = scratch
        self.pending = PendingBytes(initialBytes)
    }

    func start() {
        do {
            try loop.watch(source, [], self)
            try loop.watch(sink, [], self)
        } catch {
            AgentLog.error("\(label): cannot watch descriptors: \(error)")
            finish()
            return
        }
        pump()
    }

    func ready(_ fd: FileDescriptor, _ events: PollEvents) { pump() }

    private func pump() {
        guard !finished else { return }
        for _ in 0..<16 {
            if !pending.isEmpty {
                switch pending.flush(to: sink) {
                case .bytes, .endOfFile: break
                case .wouldBlock: return wait(sinkWritable: true)
                case .failed: return finish()  // the process closed its stdin (EPIPE): nothing more to deliver
                }
                if !pending.isEmpty { continue }
            }
            if sourceEnded { return finish() }
            switch source.readNonBlocking(into: scratch.bytes) {
            case .bytes(let n):
                let chunk = UnsafeRawBufferPointer(rebasing: scratch.bytes[0..<n])
                switch sink.writeNonBlocking(chunk) {
                case .bytes(let written):
                    if written < n { pending.set(UnsafeRawBufferPointer(rebasing: chunk[written...])) }
                case .endOfFile: break
                case .wouldBlock:
                    pending.set(chunk)
                    return wait(sinkWritable: true)
                case .failed: return finish()
                }
            case .wouldBlock:
                return wait(sinkWritable: false)
            case .endOfFile:
                sourceEnded = true
                if terminal { pending.set([0x04]) }  // VEOF: ends a read at the start of a line
            case .failed(let error):
                AgentLog.info("\(label): host connection gone (\(error.name)); closing the process's stdin")
                return finish()
            }
        }
        wait(sinkWritable: !pending.isEmpty)
    }

    private func wait(sinkWritable: Bool) {
        do {
            try loop.setInterest(source, sinkWritable ? [] : .readable)
            try loop.setInterest(sink, sinkWritable ? .writable : [])
        } catch {
            AgentLog.error("\(label): epoll: \(error)")
            finish()
        }
    }

    /// Closes the connection and the process's stdin. Safe to call twice.
    func finish() {
        guard !finished else { return }
        finished = true
        loop.unwatch(source)
        Sockets.end(source)
        loop.unwatch(sink)
        sink.closeQuietly()
    }
}
