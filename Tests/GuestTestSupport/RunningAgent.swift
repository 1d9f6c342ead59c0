import Foundation
import GuestSys
import HostProcess

/// The built guest-agent running natively on a Unix socket in a scratch directory, started the way
/// guest-init starts it (the control channel): a socketpair end as fd 3 and GUESTKIT_INIT_FD=3. Ready when the
/// agent has written READY, so tests never sleep waiting for it. Stopped (SIGTERM, reaped) on `stop()`
/// or when released.
public final class RunningAgent: @unchecked Sendable {
    // Immutable after init except `ended`, which only the owning test touches (isAlive/stop/deinit).
    public let scratch: ScratchDirectory
    public let socketPath: String
    private let process: ChildProcess
    public var pid: Int32 { process.pid }
    /// guest-init's end of the control socket; nil when started without one.
    public let control: FileDescriptor?
    public let logPath: String
    private var ended: WaitStatus?

    /// `unix:///…` for GuestClient.
    public var address: String { "unix://" + socketPath }

    /// - Parameters:
    ///   - withInitChannel: pass the control socket (GUESTKIT_INIT_FD); false runs it as on a plain host.
    ///   - bootJSON: written to the boot file the agent reads; nil leaves the file absent.
    ///   - binary: the agent to run; the built product beside the tests by default.
    ///   - extraArguments: more guest-agent options (`--max-connections`, …).
    ///   - launcher: a command the agent runs under (`nsenter --net=PATH --`: in a scratch network namespace).
    public init(withInitChannel: Bool = true, bootJSON: String? = nil,
                binary: String = BuiltProducts.path("guest-agent"), extraArguments: [String] = [],
                launcher: [String] = []) throws {
        scratch = try ScratchDirectory("agent")
        socketPath = scratch.file("agent.sock")
        logPath = scratch.file("agent.log")
        let bootFile = scratch.file("boot.json")
        if let bootJSON { try bootJSON.write(toFile: bootFile, atomically: true, encoding: .utf8) }

        let argv = launcher + [binary, "--listen", "unix:" + socketPath, "--boot-file", bootFile] + extraArguments
        var command = ChildCommand(argv[0], Array(argv.dropFirst()),
                                   environment: ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
        command.output = .file(logPath, append: false)
        command.error = .standardOutput
        var initEnd: FileDescriptor?
        var agentEnd: FileDescriptor?
        if withInitChannel {
            let (mine, theirs) = try Sockets.pair()
            initEnd = mine
            agentEnd = theirs
            command.extraDescriptors[3] = theirs
            command.environment["GUESTKIT_INIT_FD"] = "3"
        }
        do {
            process = try ChildProcess(command)
        } catch {
            initEnd?.closeQuietly()
            agentEnd?.closeQuietly()
            throw error
        }
        agentEnd?.closeQuietly()
        control = initEnd

        if let control {
            let line = try Self.readLine(control, timeoutMilliseconds: 60_000)
            guard line == "READY" else {
                throw RunningAgentError("guest-agent wrote \"\(line)\" instead of READY; log: \(logText)")
            }
        } else {
            // Without a control socket there is no READY: the socket file appears once it listens.
            let deadline = Date().addingTimeInterval(60)
            while !FileManager.default.fileExists(atPath: socketPath) {
                guard Date() < deadline else { throw RunningAgentError("guest-agent did not listen within 60 s; log: \(logText)") }
                usleep(2_000)
            }
        }
    }

    /// Reads one line from the control socket (without the newline).
    public func readControlLine(timeoutMilliseconds: Int32 = 30_000) throws -> String {
        guard let control else { throw RunningAgentError("started without a control socket") }
        return try Self.readLine(control, timeoutMilliseconds: timeoutMilliseconds)
    }

    static func readLine(_ fd: FileDescriptor, timeoutMilliseconds: Int32) throws -> String {
        var line: [UInt8] = []
        while line.last != UInt8(ascii: "\n") {
            guard try fd.waitReadable(timeoutMilliseconds: timeoutMilliseconds) else {
                throw RunningAgentError("no line on the control socket within \(timeoutMilliseconds) ms")
            }
            let byte = try fd.read(upTo: 1)
            guard let b = byte.first else { throw RunningAgentError("control socket closed after \"\(String(decoding: line, as: UTF8.self))\"") }
            line.append(b)
        }
        return String(decoding: line.dropLast(), as: UTF8.self)
    }

    /// The agent's resident set size in KiB (VmRSS), 0 once it is gone.
    public var residentKiB: Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
        return line.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
    }

    /// What the agent logged so far.
    public var logText: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Whether the agent process is still running (reaps it if it has exited).
    public var isAlive: Bool {
        if ended != nil { return false }
        if let status = process.exitStatus {
            ended = status
            return false
        }
        return true
    }

    /// SIGTERM and reap; returns how it ended.
    @discardableResult
    public func stop() throws -> WaitStatus {
        if let ended { return ended }
        try? Processes.signal(pid, Signal.terminate)
        control?.closeQuietly()
        let status = process.wait() ?? process.kill()
        ended = status
        return status
    }

    deinit {
        _ = try? stop()
    }
}

/// A RunningAgent that could not be brought up.
public struct RunningAgentError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
