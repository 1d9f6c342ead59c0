import Foundation
import GuestSys
import Synchronization
import TTRPC

/// The host side of a ttRPC server, for a process with few clients (containerd): a thread accepts, a
/// thread per connection reads frames, and every request runs on a thread of its own, because calls such
/// as Wait block for as long as a container runs while other calls arrive on the same connection.
/// Responses of concurrent calls are written whole, one frame at a time.
final class TTRPCServer: Sendable {
    /// Immutable after `init`: handlers are registered before the server starts, then only read.
    private struct Table: @unchecked Sendable {
        let methods: MethodTable<Void>
    }

    private let listener: FileDescriptor
    private let table: Table
    private let log: ShimLog

    init(listener: FileDescriptor, methods: MethodTable<Void>, log: ShimLog) {
        self.listener = listener
        self.table = Table(methods: methods)
        self.log = log
    }

    /// Accepts connections until the process exits.
    func serve() -> Never {
        while true {
            let accepted: FileDescriptor?
            do {
                accepted = try Sockets.accept(listener, nonBlocking: false)
            } catch {
                log.error("accept: \(error)")
                Thread.sleep(forTimeInterval: 0.1)
                continue
            }
            guard let connection = accepted else { continue }
            let thread = Thread { [self] in serve(connection) }
            thread.name = "ttrpc-connection"
            thread.start()
        }
    }

    private func serve(_ fd: FileDescriptor) {
        let writer = FrameWriter(fd: fd)
        var decoder = FrameDecoder()
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        defer { writer.release() }
        while true {
            let count: Int
            do {
                count = try buffer.withUnsafeMutableBytes { bytes throws(SysError) in try fd.read(into: bytes) }
            } catch {
                return
            }
            if count == 0 { return }
            decoder.append(buffer[0..<count])
            while true {
                let frame: Frame
                do {
                    guard let next = try decoder.next() else { break }
                    frame = next
                } catch {
                    log.error("ttRPC connection: \(error); closing it")
                    if case .payloadTooLarge = error {
                        writer.write(MethodTable<Void>.encodeReply(
                            streamID: error.streamID, .failure(RPCError(.resourceExhausted, error.description))))
                    }
                    return
                }
                let table = self.table
                let log = self.log
                let worker = Thread {
                    // containerd never reuses a stream id while its call is open; each call is answered alone.
                    var streams = OpenStreams()
                    switch table.methods.handle(frame, streams: &streams, context: ()) {
                    case .respond(let bytes): writer.write(bytes)
                    case .deferred: break
                    case .ignore(let reason): log.debug("ttRPC: ignored: \(reason)")
                    case .close(let reason):
                        log.error("ttRPC: \(reason); closing the connection")
                        writer.hangUp()
                    }
                }
                worker.name = "ttrpc-call"
                worker.start()
            }
        }
    }
}

/// Writes whole frames to one connection from many threads. Only the reader closes the descriptor
/// (`release`), once its read loop ended; after a hang-up or the release writes are dropped, so a call
/// answered after its connection went never writes to a reused descriptor number.
private final class FrameWriter: Sendable {
    private let fd: FileDescriptor
    /// True once nothing may be written any more.
    private let done = Mutex(false)

    init(fd: FileDescriptor) { self.fd = fd }

    func write(_ bytes: [UInt8]) {
        done.withLock { done in
            guard !done else { return }
            try? Sockets.sendAll(fd, bytes)
        }
    }

    /// Ends the connection from a call's thread: the reader wakes up with end of file and releases it.
    func hangUp() {
        done.withLock { done in
            guard !done else { return }
            done = true
            try? Sockets.shutdown(fd, .both)
        }
    }

    /// The reader is done with the descriptor.
    func release() {
        done.withLock { done in
            done = true
            fd.closeQuietly()
        }
    }
}
