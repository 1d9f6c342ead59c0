import Foundation
import GuestSys

/// A command run to completion: how it ended and what it wrote where `.capture` was asked for.
public struct ChildResult: Sendable, CustomStringConvertible {
    public let status: WaitStatus
    public let standardOutput: [UInt8]
    public let standardError: [UInt8]
    /// The command's lifetime (or the run's timeout) ran out and its group was killed.
    public let timedOut: Bool

    public var stdout: String { String(decoding: standardOutput, as: UTF8.self) }
    public var stderr: String { String(decoding: standardError, as: UTF8.self) }
    public var succeeded: Bool { status == .exited(code: 0) }

    public var description: String {
        "\(status)\(timedOut ? " (timed out)" : "")\nstdout: \(stdout)\nstderr: \(stderr)"
    }
}

extension ChildCommand {
    /// Runs the command to its end, feeding `.bytes` input and collecting `.capture` outputs as it goes
    /// (neither pipe can fill and stall the child). With `timeout`, the group is killed when it passes.
    public func run(timeout: Duration? = nil) throws(ChildProcessError) -> ChildResult {
        var command = self
        if let timeout { command.lifetime = min(command.lifetime ?? timeout, timeout) }
        var streams = try StandardStreams(command, pipesAllowed: true)
        let child: ChildProcess
        do throws(ChildProcessError) {
            child = try ChildProcess(command, streams: streams)
        } catch {
            streams.closeParentCopies()
            streams.closeOurEnds()
            throw error
        }
        streams.closeParentCopies()
        let (out, err) = streams.pump(while: child)
        let status = child.wait() ?? .signaled(signal: Signal.kill, coreDumped: false)
        return ChildResult(status: status, standardOutput: out, standardError: err, timedOut: child.timedOut)
    }
}

/// The descriptors a child's fds 0–2 come from, and our ends of any pipes to it.
struct StandardStreams {
    /// Child fd → our descriptor that becomes it.
    private(set) var childDescriptors: [Int32: FileDescriptor] = [:]
    /// Descriptors we opened only to hand to the child (closed once it runs).
    private var parentCopies: [FileDescriptor] = []
    private var inputPipe: FileDescriptor?
    private var pendingInput: [UInt8] = []
    private var outputPipe: FileDescriptor?
    private var errorPipe: FileDescriptor?

    init(_ command: ChildCommand, pipesAllowed: Bool) throws(ChildProcessError) {
        func fail(_ what: String, _ error: Error) -> ChildProcessError {
            ChildProcessError(program: command.program, reason: .setupFailed, detail: "\(what): \(error)")
        }
        func open(_ path: String, _ flags: OpenFlags) throws(ChildProcessError) -> FileDescriptor {
            do throws(SysError) { return try FileDescriptor.open(path, flags.union(.closeOnExec), mode: 0o644) } catch {
                throw fail("open \(path)", error)
            }
        }
        func pipe() throws(ChildProcessError) -> GuestSys.Pipe {
            guard pipesAllowed else {
                throw ChildProcessError(program: command.program, reason: .setupFailed,
                                        detail: "captured output and input bytes need ChildCommand.run(), not a ChildProcess")
            }
            do throws(SysError) { return try GuestSys.Pipe() } catch { throw fail("pipe", error) }
        }
        do {
            switch command.input {
            case .null:
                let null = try open("/dev/null", .readOnly)
                parentCopies.append(null)
                childDescriptors[0] = null
            case .inherit: childDescriptors[0] = .standardInput
            case .file(let path):
                let file = try open(path, .readOnly)
                parentCopies.append(file)
                childDescriptors[0] = file
            case .bytes(let bytes):
                // A child that exits without reading all of it must cost an EPIPE here, not a SIGPIPE.
                Signal.ignore(Signal.pipe)
                let p = try pipe()
                parentCopies.append(p.readEnd)
                childDescriptors[0] = p.readEnd
                inputPipe = p.writeEnd
                pendingInput = bytes
            }
            func target(_ output: ChildOutput, fd: Int32) throws(ChildProcessError) -> FileDescriptor {
                switch output {
                case .null:
                    let null = try open("/dev/null", .writeOnly)
                    parentCopies.append(null)
                    return null
                case .inherit: return FileDescriptor(rawValue: fd)
                case let .file(path, append):
                    let file = try open(path, [.writeOnly, .create, append ? .append : .truncate])
                    parentCopies.append(file)
                    return file
                case .capture:
                    let p = try pipe()
                    parentCopies.append(p.writeEnd)
                    if fd == 1 { outputPipe = p.readEnd } else { errorPipe = p.readEnd }
                    return p.writeEnd
                case .standardOutput:
                    return childDescriptors[1] ?? .standardOutput
                case .descriptor(let descriptor): return descriptor
                }
            }
            childDescriptors[1] = try target(command.output, fd: 1)
            childDescriptors[2] = try target(command.error, fd: 2)
        } catch {
            closeParentCopies()
            closeOurEnds()
            throw error
        }
    }

    /// Closes the descriptors only the child needed (its copies are its own now).
    mutating func closeParentCopies() {
        for fd in parentCopies { fd.closeQuietly() }
        parentCopies = []
    }

    mutating func closeOurEnds() {
        for fd in [inputPipe, outputPipe, errorPipe].compactMap({ $0 }) { fd.closeQuietly() }
        inputPipe = nil
        outputPipe = nil
        errorPipe = nil
    }

    /// Feeds the input and collects the outputs until every pipe is closed; closes our ends. Once the
    /// child's leader has ended its group is killed (`exitStatus`), so a background process holding a
    /// pipe cannot keep this waiting.
    mutating func pump(while child: ChildProcess) -> (output: [UInt8], error: [UInt8]) {
        defer { closeOurEnds() }
        var collectedOutput: [UInt8] = []
        var collectedError: [UInt8] = []
        var open: Set<FileDescriptor> = []
        guard let poller = try? Poller() else { return ([], []) }
        defer { poller.fd.closeQuietly() }
        for fd in [outputPipe, errorPipe].compactMap({ $0 }) {
            try? fd.setNonBlocking()
            if (try? poller.add(fd, .readable)) != nil { open.insert(fd) }
        }
        var inputOffset = 0
        if let input = inputPipe {
            if pendingInput.isEmpty {
                input.closeQuietly()
                inputPipe = nil
            } else {
                try? input.setNonBlocking()
                if (try? poller.add(input, .writable)) != nil { open.insert(input) } else {
                    input.closeQuietly()
                    inputPipe = nil
                }
            }
        }
        var buffer = [UInt8](repeating: 0, count: 65536)
        // A process that left the group (setsid) may still hold a pipe: after the leader ended, drain
        // for a bounded time only.
        var drainDeadline: ContinuousClock.Instant?
        while !open.isEmpty {
            guard let events = try? poller.wait(timeoutMilliseconds: 50) else { break }
            if events.isEmpty {
                if let drainDeadline {
                    if ContinuousClock.now > drainDeadline { break }
                } else if child.exitStatus != nil {
                    drainDeadline = ContinuousClock.now + .seconds(5)
                }
            }
            for event in events {
                if event.fd == inputPipe {
                    let result = pendingInput[inputOffset...].withUnsafeBytes { event.fd.writeNonBlocking($0) }
                    switch result {
                    case .bytes(let n): inputOffset += n
                    case .wouldBlock: continue
                    case .endOfFile, .failed: inputOffset = pendingInput.count  // the child stopped reading
                    }
                    if inputOffset >= pendingInput.count {
                        try? poller.remove(event.fd)
                        open.remove(event.fd)
                        event.fd.closeQuietly()
                        inputPipe = nil
                    }
                    continue
                }
                let result = buffer.withUnsafeMutableBytes { event.fd.readNonBlocking(into: $0) }
                switch result {
                case .bytes(let n):
                    if event.fd == outputPipe {
                        collectedOutput.append(contentsOf: buffer[0..<n])
                    } else {
                        collectedError.append(contentsOf: buffer[0..<n])
                    }
                case .wouldBlock: continue
                case .endOfFile, .failed:
                    try? poller.remove(event.fd)
                    open.remove(event.fd)
                }
            }
        }
        return (collectedOutput, collectedError)
    }
}
