import Foundation
import GuestProto
import GuestSys
import ProtoWire
import Synchronization
import TTRPC

/// A ttRPC client connection: many calls in flight at once on odd stream ids, answered in any order. A
/// reader thread takes response frames off the socket and completes the matching call; callers block on
/// their own call only, so a WaitProcess can be outstanding while ResizeTerminal calls go through.
public final class RPCChannel: Sendable {
    private struct State {
        var nextStreamID: UInt32 = 1
        var pending: [UInt32: @Sendable (Result<[UInt8], GuestClientError>) -> Void] = [:]
        /// Set once the connection is gone; later calls fail with it at once.
        var failure: GuestClientError?
        /// The reader has closed the descriptor: its number may already belong to another socket of this
        /// process, so nothing may shut it down or write to it any more.
        var descriptorClosed = false
    }

    private let fd: FileDescriptor
    private let state = Mutex(State())
    /// Held while one frame is written, so frames of concurrent calls never interleave.
    private let writeLock = Mutex(())
    public let peer: String
    /// How long a call waits for its answer, and a write for room in the socket, unless told otherwise.
    public let callTimeout: Duration

    /// Takes over a connected blocking socket and starts the reader thread. Writes on it give up after
    /// `callTimeout` (SO_SNDTIMEO): a peer that stops reading fails the channel instead of blocking it.
    public init(fd: FileDescriptor, peer: String, callTimeout: Duration = GuestClient.defaultCallTimeout) {
        self.fd = fd
        self.peer = peer
        self.callTimeout = callTimeout
        try? Sockets.setSendTimeout(fd, milliseconds: callTimeout.milliseconds)
        let reader = Thread { [self] in readLoop() }
        reader.name = "ttrpc-reader"
        reader.start()
    }

    /// Starts a call; `completion` runs on the reader thread (or at once when the channel is closed, or
    /// on a timer's thread with `deadlineExceeded` when no answer came within `deadline`; nil: no limit).
    /// `timeoutNanoseconds` is the ttRPC request's own field, for the server.
    public func start(service: String, method: String, payload: [UInt8], timeoutNanoseconds: Int64 = 0,
                      deadline: Duration?,
                      completion: @escaping @Sendable (Result<[UInt8], GuestClientError>) -> Void) {
        let streamID: UInt32? = state.withLock { s in
            if s.failure != nil { return nil }
            let id = s.nextStreamID
            s.nextStreamID &+= 2
            s.pending[id] = completion
            return id
        }
        guard let streamID else {
            completion(.failure(state.withLock { $0.failure } ?? .connectionClosed(peer, "closed")))
            return
        }
        var request = Ttrpc_Request()
        request.service = service
        request.method = method
        request.payload = payload
        request.timeoutNano = timeoutNanoseconds
        let bytes = Frame(streamID: streamID, type: .request, payload: request.serializedBytes()).encoded()
        guard bytes.count - FrameHeader.size <= FrameHeader.maxPayload else {
            finish(streamID, .failure(.protocolError("\(method) request is \(bytes.count) bytes, over ttRPC's 4 MiB limit")))
            return
        }
        let written: SysError? = writeLock.withLock { _ in
            if state.withLock({ $0.descriptorClosed }) { return SysError("send", [fd.description], code: Errno.EBADF) }
            do throws(SysError) {
                try Sockets.sendAll(fd, bytes)
                return nil
            } catch {
                return error
            }
        }
        if let written {
            // A partly written frame leaves the stream out of step: the whole channel goes.
            if written.code == Errno.EAGAIN {
                fail(.deadlineExceeded("\(method) to \(peer): the request could not be written within \(callTimeout) "
                    + "(the peer is not reading)"))
            } else {
                fail(.connectionClosed(peer, "sending \(method): \(written)"))
            }
            return
        }
        if let deadline {
            let peer = self.peer
            // Capped at a year: DispatchTime arithmetic must not overflow on an absurd deadline.
            let milliseconds = min(deadline.milliseconds, 365 * 86_400_000)
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(milliseconds)) { [weak self] in
                self?.finish(streamID, .failure(.deadlineExceeded("\(method) to \(peer): no answer within \(deadline)")))
            }
        }
    }

    /// A blocking call: the response message, or the error status the agent answered. `deadline` left
    /// out means `callTimeout`; an explicit nil (`.some(nil)`) waits without limit (WaitProcess does).
    public func call<Request: WireMessage, Response: WireMessage>(
        _ method: String, _ request: Request, service: String = GuestClient.service, timeoutNanoseconds: Int64 = 0,
        deadline: Duration?? = nil
    ) throws(GuestClientError) -> Response {
        try call(method, payload: request.serializedBytes(), service: service, timeoutNanoseconds: timeoutNanoseconds,
                 deadline: deadline, responseName: Response.protoMessageName) { bytes throws(WireError) in
            try Response(serializedBytes: bytes)
        }
    }

    /// A blocking call whose messages some other protobuf code encodes: `payload` is the encoded request,
    /// `decode` turns the response's payload into `Response`, and `responseName` names it in errors.
    public func call<Response>(_ method: String, payload: [UInt8], service: String = GuestClient.service,
                               timeoutNanoseconds: Int64 = 0, deadline: Duration?? = nil, responseName: String,
                               decode: ([UInt8]) throws -> Response) throws(GuestClientError) -> Response {
        let slot = ResultSlot()
        start(service: service, method: method, payload: payload, timeoutNanoseconds: timeoutNanoseconds,
              deadline: deadline ?? callTimeout) { result in
            slot.fill(result)
        }
        let bytes = try slot.wait().get()
        do {
            return try decode(bytes)
        } catch {
            throw .protocolError("\(method) response is not a \(responseName): \(error)")
        }
    }

    /// Ends the connection; calls in flight fail.
    public func close() {
        fail(.connectionClosed(peer, "closed by the client"))
    }

    private func finish(_ streamID: UInt32, _ result: Result<[UInt8], GuestClientError>) {
        let completion = state.withLock { $0.pending.removeValue(forKey: streamID) }
        completion?(result)
    }

    /// Marks the channel dead, wakes the reader (shutdown, not close: it may be inside read) and fails
    /// every call in flight.
    private func fail(_ error: GuestClientError) {
        let pending = state.withLock { s -> [@Sendable (Result<[UInt8], GuestClientError>) -> Void] in
            if s.failure == nil { s.failure = error }
            // Under the lock: the reader closes the descriptor under it too, so this never reaches a reused number.
            if !s.descriptorClosed { try? Sockets.shutdown(fd, .both) }
            let all = Array(s.pending.values)
            s.pending = [:]
            return all
        }
        for completion in pending { completion(.failure(error)) }
    }

    private func readLoop() {
        var decoder = FrameDecoder()
        var buffer = [UInt8](repeating: 0, count: 65536)
        outer: while true {
            let n: Int
            do {
                n = try buffer.withUnsafeMutableBytes { raw in try fd.read(into: raw) }
            } catch {
                fail(.connectionClosed(peer, "\(error)"))
                break
            }
            if n == 0 {
                fail(.connectionClosed(peer, "the agent closed the connection"))
                break
            }
            decoder.append(buffer[0..<n])
            while true {
                let frame: Frame
                do {
                    guard let next = try decoder.next() else { break }
                    frame = next
                } catch {
                    fail(.protocolError("from \(peer): \(error)"))
                    break outer
                }
                guard frame.type == .response else { continue }
                let result: Result<[UInt8], GuestClientError>
                do {
                    let response = try Ttrpc_Response(serializedBytes: frame.payload)
                    if response.hasStatus && response.status.code != 0 {
                        result = .failure(.rpc(RPCError(StatusCode(wire: response.status.code), response.status.message)))
                    } else {
                        result = .success([UInt8](response.payload))
                    }
                } catch {
                    result = .failure(.protocolError("response on stream \(frame.streamID) is not a ttrpc.Response: \(error)"))
                }
                finish(frame.streamID, result)
            }
        }
        // The reader is the last user of the descriptor: close it here, never under a blocked read. A later
        // close() (deinit after an explicit close, say) must not shut down whatever socket reuses the number:
        // the flag, set under both locks, stops fail() and senders.
        writeLock.withLock { _ in
            state.withLock { s in
                s.descriptorClosed = true
                fd.closeQuietly()
            }
        }
    }
}

/// One call's result, handed from the reader thread to the caller.
final class ResultSlot: @unchecked Sendable {
    // The semaphore orders the single write of `result` before the single read after `wait()`.
    private var result: Result<[UInt8], GuestClientError>?
    private let ready = DispatchSemaphore(value: 0)

    func fill(_ value: Result<[UInt8], GuestClientError>) {
        result = value
        ready.signal()
    }

    func wait() -> Result<[UInt8], GuestClientError> {
        ready.wait()
        return result!
    }
}
