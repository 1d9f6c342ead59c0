// GuestClient is the host side of guestkit.v1.Agent: it reaches a guest's agent (vsock, hybrid vsock through
// a VMM's Unix socket, or a plain Unix socket), makes the calls, and carries a process's stdio over the extra
// connections the protocol uses for it (one per stream, each opened with AttachStdio). It owns no terminal
// or process policy beyond `ProcessRun`, which wires local descriptors to a remote process the way
// `guestctl exec` needs; the CLI itself lives in guestctl.
import Foundation
import GuestProto
import GuestSys
import SwiftProtobuf
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

    public var description: String {
        switch self {
        case .badAddress(let text, let why): return "bad agent address \"\(text)\": \(why)"
        case .connect(let address, let error): return "cannot connect to \(address): \(error)"
        case .handshake(let message): return message
        case .connectionClosed(let peer, let why): return "connection to \(peer) lost: \(why)"
        case .rpc(let error): return error.description
        case .protocolError(let message): return "protocol error: \(message)"
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

/// A connection to one guest's agent and the calls it offers.
public final class GuestClient: Sendable {
    public static let service = "guestkit.v1.Agent"

    public let address: AgentAddress
    public let channel: RPCChannel

    public init(address: AgentAddress) throws(GuestClientError) {
        self.address = address
        channel = RPCChannel(fd: try address.connect(), peer: address.description)
    }

    public convenience init(_ text: String) throws(GuestClientError) {
        try self.init(address: try AgentAddress(parsing: text))
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
    public func attach(_ id: String, _ stream: Guestkit_V1_StdioStream) throws(GuestClientError) -> FileDescriptor {
        let fd = try address.connect()
        do {
            var request = Guestkit_V1_AttachStdioRequest()
            request.id = id
            request.stream = stream
            let _: Guestkit_V1_AttachStdioResponse = try OneShotCall.call(on: fd, peer: address.description,
                                                                          "AttachStdio", request)
            return fd
        } catch {
            fd.closeQuietly()
            throw error
        }
    }

    /// Waits for the process to end; its attached output streams have all reached EOF by then.
    public func wait(_ id: String, timeoutNanoseconds: Int64 = 0) throws(GuestClientError) -> ProcessExit {
        var request = Guestkit_V1_WaitProcessRequest()
        request.id = id
        let response: Guestkit_V1_WaitProcessResponse = try channel.call("WaitProcess", request,
                                                                         timeoutNanoseconds: timeoutNanoseconds)
        return ProcessExit(response)
    }

    /// Starts a WaitProcess and returns at once; `completion` runs on the channel's reader thread.
    public func wait(_ id: String, completion: @escaping @Sendable (Result<ProcessExit, GuestClientError>) -> Void) {
        var request = Guestkit_V1_WaitProcessRequest()
        request.id = id
        let payload: [UInt8] = (try? request.serializedBytes()) ?? []
        channel.start(service: Self.service, method: "WaitProcess", payload: payload) { result in
            completion(result.flatMap { bytes in
                do {
                    return .success(ProcessExit(try Guestkit_V1_WaitProcessResponse(serializedBytes: bytes)))
                } catch {
                    return .failure(.protocolError("WaitProcess response: \(error)"))
                }
            })
        }
    }

    public func signal(_ id: String, _ signal: Int32, processGroup: Bool = false) throws(GuestClientError) {
        var request = Guestkit_V1_SignalProcessRequest()
        request.id = id
        request.signal = signal
        request.processGroup = processGroup
        let _: Guestkit_V1_SignalProcessResponse = try channel.call("SignalProcess", request)
    }

    public func resizeTerminal(_ id: String, rows: UInt16, columns: UInt16) throws(GuestClientError) {
        var request = Guestkit_V1_ResizeTerminalRequest()
        request.id = id
        request.rows = UInt32(rows)
        request.columns = UInt32(columns)
        let _: Guestkit_V1_ResizeTerminalResponse = try channel.call("ResizeTerminal", request)
    }

    public func closeStdin(_ id: String) throws(GuestClientError) {
        var request = Guestkit_V1_CloseStdinRequest()
        request.id = id
        let _: Guestkit_V1_CloseStdinResponse = try channel.call("CloseStdin", request)
    }

    public func listProcesses() throws(GuestClientError) -> [Guestkit_V1_ProcessEntry] {
        let response: Guestkit_V1_ListProcessesResponse = try channel.call("ListProcesses", Guestkit_V1_ListProcessesRequest())
        return response.processes
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
    static func call<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
        on fd: FileDescriptor, peer: String, _ method: String, _ message: Request
    ) throws(GuestClientError) -> Response {
        do {
            var request = Ttrpc_Request()
            request.service = GuestClient.service
            request.method = method
            request.payload = try message.serializedBytes()
            try Sockets.sendAll(fd, Frame(streamID: 1, type: .request, payload: try request.serializedBytes()).encoded())
            let header = FrameHeader(parsing: try readExactly(fd, FrameHeader.size, peer: peer))
            guard header.type == MessageType.response.rawValue, header.streamID == 1,
                  Int(header.length) <= FrameHeader.maxPayload else {
                throw GuestClientError.protocolError("\(peer) answered \(method) with a frame of type \(header.type) on stream \(header.streamID)")
            }
            let response = try Ttrpc_Response(serializedBytes: try readExactly(fd, Int(header.length), peer: peer))
            if response.hasStatus && response.status.code != 0 {
                throw GuestClientError.rpc(RPCError(StatusCode(wire: response.status.code), response.status.message))
            }
            return try Response(serializedBytes: response.payload)
        } catch let error as GuestClientError {
            throw error
        } catch let error as SysError {
            throw .connectionClosed(peer, "\(method): \(error)")
        } catch {
            throw .protocolError("\(method): \(error)")
        }
    }

    static func readExactly(_ fd: FileDescriptor, _ count: Int, peer: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while bytes.count < count {
            let chunk = try fd.read(upTo: count - bytes.count)
            if chunk.isEmpty { throw GuestClientError.connectionClosed(peer, "the agent closed the connection mid-response") }
            bytes += chunk
        }
        return bytes
    }
}
