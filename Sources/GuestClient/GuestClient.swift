// GuestClient is the host side of guestkit.v1.Agent: it reaches a guest's agent (vsock, hybrid vsock through
// a VMM's Unix socket, or a plain Unix socket), makes the calls, and carries a process's stdio over the extra
// connections the protocol uses for it (one per stream, each opened with AttachStdio). It owns no terminal
// or process policy beyond `ProcessRun`, which wires local descriptors to a remote process the way
// `guestctl exec` needs; the CLI itself lives in guestctl.
import Foundation
import GuestProto
import GuestSys
import ProtoWire
import TTRPC

/// Why a call to the agent failed.
public enum GuestClientError: Error, CustomStringConvertible, Sendable {
    case badAddress(String, String)
    case connect(String, SysError)
    case handshake(String)
    case connectionClosed(String, String)
    /// The agent answered with an error status.
    case rpc(RPCError)
    case protocolError(String)
    /// No answer (or no progress writing the request) within the call's deadline.
    case deadlineExceeded(String)

    public var description: String {
        switch self {
        case .badAddress(let text, let why): return "bad agent address \"\(text)\": \(why)"
        case .connect(let address, let error): return "cannot connect to \(address): \(error)"
        case .handshake(let message): return message
        case .connectionClosed(let peer, let why): return "connection to \(peer) lost: \(why)"
        case .rpc(let error): return error.description
        case .protocolError(let message): return "protocol error: \(message)"
        case .deadlineExceeded(let message): return message
        }
    }

    /// The status code when the agent answered with one.
    public var statusCode: StatusCode? {
        if case .rpc(let error) = self { return error.code }
        return nil
    }
}

/// How a remote process ended.
public struct ProcessExit: Sendable, Equatable, CustomStringConvertible {
    public var code: Int32
    /// The signal that killed it, 0 when it exited.
    public var signal: Int32
    public var coreDumped: Bool

    public init(code: Int32, signal: Int32, coreDumped: Bool = false) {
        self.code = code
        self.signal = signal
        self.coreDumped = coreDumped
    }

    init(_ response: Guestkit_V1_WaitProcessResponse) {
        self.init(code: response.exitCode, signal: response.signal, coreDumped: response.coreDumped)
    }

    /// What a shell (and ssh) reports: the code, or 128 + the signal.
    public var shellCode: Int32 { signal != 0 ? 128 + signal : code }

    public var description: String {
        signal != 0 ? "killed by \(Signal.name(signal))\(coreDumped ? " (core dumped)" : "")" : "exited with code \(code)"
    }
}

/// A connection to one guest's agent and the calls it offers. Every call has a deadline: `callTimeout`
/// (default `defaultCallTimeout`) for the answer, and the same bound on each blocking write, so a
/// wedged guest (or a VMM socket that accepts and never answers) fails the call instead of hanging the
/// caller. WaitProcess is the exception it has to be: it waits for the process, for as long as its own
/// `timeoutNanoseconds` says (the agent answers DEADLINE_EXCEEDED then), plus `callTimeout`.
public final class GuestClient: Sendable {
    public static let service = "guestkit.v1.Agent"
    /// How long a call waits for its answer unless the client is made with another `callTimeout`:
    /// ample for a StartProcess on a loaded TCG guest, short enough that a dead guest is noticed.
    public static let defaultCallTimeout: Duration = .seconds(60)

    public let address: AgentAddress
    public let channel: RPCChannel
    public let callTimeout: Duration

    public init(address: AgentAddress, callTimeout: Duration = GuestClient.defaultCallTimeout) throws(GuestClientError) {
        self.address = address
        self.callTimeout = callTimeout
        channel = RPCChannel(fd: try address.connect(sendTimeoutMilliseconds: callTimeout.milliseconds),
                             peer: address.description, callTimeout: callTimeout)
    }

    public convenience init(_ text: String, callTimeout: Duration = GuestClient.defaultCallTimeout) throws(GuestClientError) {
        try self.init(address: try AgentAddress(parsing: text), callTimeout: callTimeout)
    }

    deinit { channel.close() }

    public func close() { channel.close() }

    public func info() throws(GuestClientError) -> Guestkit_V1_GetInfoResponse {
        try channel.call("GetInfo", Guestkit_V1_GetInfoRequest())
    }

    public func startProcess(_ request: Guestkit_V1_StartProcessRequest) throws(GuestClientError) -> Guestkit_V1_StartProcessResponse {
        try channel.call("StartProcess", request)
    }

    /// Opens a new connection carrying one stdio stream of process `id`: after this returns, reading it gives
    /// the process's output (until EOF), writing it feeds its stdin (shutdown(SHUT_WR) ends stdin).
    /// `container` names the container of a container's process (its init is id = container).
    public func attach(_ id: String, _ stream: Guestkit_V1_StdioStream, container: String = "") throws(GuestClientError) -> FileDescriptor {
        let fd = try address.connect(sendTimeoutMilliseconds: callTimeout.milliseconds)
        do throws(GuestClientError) {
            var request = Guestkit_V1_AttachStdioRequest()
            request.id = id
            request.stream = stream
            request.containerID = container
            let _: Guestkit_V1_AttachStdioResponse = try OneShotCall.call(on: fd, peer: address.description,
                                                                          "AttachStdio", request, timeout: callTimeout)
            // From here the connection is the stream: a stdin write may rightly wait for the process to read.
            do throws(SysError) { try Sockets.setSendTimeout(fd, milliseconds: 0) } catch {
                throw .connectionClosed(address.description, "AttachStdio: \(error)")
            }
            return fd
        } catch {
            fd.closeQuietly()
            throw error
        }
    }

    /// Waits for the process to end; its attached output streams have all reached EOF by then. With
    /// `timeoutNanoseconds` 0 it waits as long as the process runs.
    public func wait(_ id: String, container: String = "", timeoutNanoseconds: Int64 = 0) throws(GuestClientError) -> ProcessExit {
        var request = Guestkit_V1_WaitProcessRequest()
        request.id = id
        request.containerID = container
        let response: Guestkit_V1_WaitProcessResponse = try channel.call("WaitProcess", request,
                                                                         timeoutNanoseconds: timeoutNanoseconds,
                                                                         deadline: waitDeadline(timeoutNanoseconds))
        return ProcessExit(response)
    }

    /// Starts a WaitProcess and returns at once; `completion` runs on the channel's reader thread (or a
    /// timer's, when the deadline passes first).
    public func wait(_ id: String, timeoutNanoseconds: Int64 = 0,
                     completion: @escaping @Sendable (Result<ProcessExit, GuestClientError>) -> Void) {
        var request = Guestkit_V1_WaitProcessRequest()
        request.id = id
        let payload = request.serializedBytes()
        channel.start(service: Self.service, method: "WaitProcess", payload: payload, timeoutNanoseconds: timeoutNanoseconds,
                      deadline: waitDeadline(timeoutNanoseconds)) { result in
            completion(result.flatMap { bytes in
                do {
                    return .success(ProcessExit(try Guestkit_V1_WaitProcessResponse(serializedBytes: bytes)))
                } catch {
                    return .failure(.protocolError("WaitProcess response: \(error)"))
                }
            })
        }
    }

    /// With `all` (and a container), every process in the container's cgroup.
    public func signal(_ id: String, _ signal: Int32, processGroup: Bool = false, container: String = "",
                       all: Bool = false) throws(GuestClientError) {
        var request = Guestkit_V1_SignalProcessRequest()
        request.id = id
        request.signal = signal
        request.processGroup = processGroup
        request.containerID = container
        request.all = all
        let _: Guestkit_V1_SignalProcessResponse = try channel.call("SignalProcess", request)
    }

    public func resizeTerminal(_ id: String, rows: UInt16, columns: UInt16, container: String = "") throws(GuestClientError) {
        var request = Guestkit_V1_ResizeTerminalRequest()
        request.id = id
        request.containerID = container
        request.rows = UInt32(rows)
        request.columns = UInt32(columns)
        let _: Guestkit_V1_ResizeTerminalResponse = try channel.call("ResizeTerminal", request)
    }

    public func closeStdin(_ id: String, container: String = "") throws(GuestClientError) {
        var request = Guestkit_V1_CloseStdinRequest()
        request.id = id
        request.containerID = container
        let _: Guestkit_V1_CloseStdinResponse = try channel.call("CloseStdin", request)
    }

    public func listProcesses(container: String = "") throws(GuestClientError) -> [Guestkit_V1_ProcessEntry] {
        var request = Guestkit_V1_ListProcessesRequest()
        request.containerID = container
        let response: Guestkit_V1_ListProcessesResponse = try channel.call("ListProcesses", request)
        return response.processes
    }

    /// WaitProcess's own limit plus `callTimeout` for the answer to travel; none when it waits for good.
    private func waitDeadline(_ timeoutNanoseconds: Int64) -> Duration? {
        timeoutNanoseconds > 0 ? .nanoseconds(timeoutNanoseconds) + callTimeout : nil
    }

    public func shutdown(reboot: Bool) throws(GuestClientError) {
        var request = Guestkit_V1_ShutdownRequest()
        request.reboot = reboot
        let _: Guestkit_V1_ShutdownResponse = try channel.call("Shutdown", request)
    }
}

/// A single ttRPC call on a connection that carries nothing else yet (AttachStdio), read without a reader
/// thread and without reading one byte past the response: what follows is the stream's data.
enum OneShotCall {
    static func call<Request: WireMessage, Response: WireMessage>(
        on fd: FileDescriptor, peer: String, _ method: String, _ message: Request, timeout: Duration
    ) throws(GuestClientError) -> Response {
        let deadline = ContinuousClock.now + timeout
        do {
            var request = Ttrpc_Request()
            request.service = GuestClient.service
            request.method = method
            request.payload = message.serializedBytes()
            // The socket's SO_SNDTIMEO bounds this write.
            try Sockets.sendAll(fd, Frame(streamID: 1, type: .request, payload: request.serializedBytes()).encoded())
            let header = FrameHeader(parsing: try readExactly(fd, FrameHeader.size, peer: peer, method: method, by: deadline))
            guard header.type == MessageType.response.rawValue, header.streamID == 1,
                  Int(header.length) <= FrameHeader.maxPayload else {
                throw GuestClientError.protocolError("\(peer) answered \(method) with a frame of type \(header.type) on stream \(header.streamID)")
            }
            let response = try Ttrpc_Response(serializedBytes: try readExactly(fd, Int(header.length), peer: peer,
                                                                                method: method, by: deadline))
            if response.hasStatus && response.status.code != 0 {
                throw GuestClientError.rpc(RPCError(StatusCode(wire: response.status.code), response.status.message))
            }
            return try Response(serializedBytes: response.payload)
        } catch let error as GuestClientError {
            throw error
        } catch let error as SysError {
            if error.code == Errno.EAGAIN {
                throw .deadlineExceeded("\(method) to \(peer): the request could not be written within \(timeout)")
            }
            throw .connectionClosed(peer, "\(method): \(error)")
        } catch {
            throw .protocolError("\(method): \(error)")
        }
    }

    static func readExactly(_ fd: FileDescriptor, _ count: Int, peer: String, method: String,
                            by deadline: ContinuousClock.Instant) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while bytes.count < count {
            let left = max(deadline - ContinuousClock.now, .zero).milliseconds
            guard try fd.waitReadable(timeoutMilliseconds: Int32(clamping: left)) else {
                throw GuestClientError.deadlineExceeded("\(method) to \(peer): no answer by the deadline")
            }
            let chunk = try fd.read(upTo: count - bytes.count)
            if chunk.isEmpty { throw GuestClientError.connectionClosed(peer, "the agent closed the connection mid-response") }
            bytes += chunk
        }
        return bytes
    }
}

extension Duration {
    /// Whole milliseconds, rounded up (so a short deadline never becomes "no wait at all"), at least 1.
    var milliseconds: Int {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow, seconds >= 0 else { return seconds < 0 ? 1 : Int.max }
        let fraction = (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return max(1, Int(clamping: whole) + Int(fraction))
    }
}
