import ContainerdProto
import Foundation
import GuestClient
import GuestSys
import SwiftProtobuf
import Synchronization

/// Sends task events to containerd (`containerd.services.events.ttrpc.v1.Events/Forward` on
/// TTRPC_ADDRESS) one at a time, in the order they were queued: containerd requires create before start
/// before exit before delete, and exec-added before exec-started before that exec's exit. A containerd
/// that does not answer within the bound costs that event only; the queue goes on.
final class EventPublisher: Sendable {
    private struct State {
        var queue: [Containerd_Services_Events_Ttrpc_V1_Envelope] = []
        var channel: RPCChannel?
    }

    static let forwardTimeout: Duration = .seconds(5)

    private let address: String?
    private let namespace: String
    private let log: ShimLog
    private let state = Mutex(State())
    private let wakeUp = DispatchSemaphore(value: 0)
    /// Signalled each time the queue has drained (for `flush`).
    private let drained = Mutex(0)

    /// `address` is TTRPC_ADDRESS (a socket path, `unix://` prefix optional); nil publishes nothing.
    init(address: String?, namespace: String, log: ShimLog) {
        self.address = address.map { $0.hasPrefix("unix://") ? String($0.dropFirst(7)) : $0 }
        self.namespace = namespace
        self.log = log
        let sender = Thread { [self] in sendLoop() }
        sender.name = "events"
        sender.start()
    }

    /// Queues an event under its topic ("/tasks/exit"); its Any type URL is the message's full name.
    func publish<Event: SwiftProtobuf.Message>(_ topic: String, _ event: Event) {
        var envelope = Containerd_Services_Events_Ttrpc_V1_Envelope()
        envelope.timestamp = Google_Protobuf_Timestamp(date: Date())
        envelope.namespace = namespace
        envelope.topic = topic
        do {
            envelope.event = try Google_Protobuf_Any(message: event, typePrefix: "")
            envelope.event.typeURL = Event.protoMessageName
        } catch {
            log.error("cannot encode the \(topic) event: \(error)")
            return
        }
        log.debug("event \(topic)")
        state.withLock { $0.queue.append(envelope) }
        wakeUp.signal()
    }

    /// Waits (bounded) until every queued event was handed to containerd or given up.
    func flush(timeout: Duration = .seconds(10)) {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if state.withLock({ $0.queue.isEmpty }) && drained.withLock({ $0 == 0 }) { return }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    private func sendLoop() {
        while true {
            wakeUp.wait()
            guard let envelope = state.withLock({ s -> Containerd_Services_Events_Ttrpc_V1_Envelope? in
                s.queue.isEmpty ? nil : s.queue.removeFirst()
            }) else { continue }
            drained.withLock { $0 += 1 }
            send(envelope)
            drained.withLock { $0 -= 1 }
        }
    }

    private func send(_ envelope: Containerd_Services_Events_Ttrpc_V1_Envelope) {
        guard let address else { return }
        var request = Containerd_Services_Events_Ttrpc_V1_ForwardRequest()
        request.envelope = envelope
        for attempt in 1...2 {
            do {
                let channel = try connectedChannel(address)
                let _: Google_Protobuf_Empty = try channel.call(
                    "Forward", request, service: "containerd.services.events.ttrpc.v1.Events",
                    timeoutNanoseconds: Int64(Self.forwardTimeout.components.seconds) * 1_000_000_000)
                return
            } catch {
                // A broken connection is redialled once; containerd may have restarted.
                state.withLock { $0.channel = nil }
                if attempt == 2 { log.error("cannot forward \(envelope.topic) to containerd at \(address): \(error)") }
            }
        }
    }

    private func connectedChannel(_ path: String) throws -> RPCChannel {
        if let channel = state.withLock({ $0.channel }) { return channel }
        let fd = try Sockets.connect(.unix(path))
        let channel = RPCChannel(fd: fd, peer: "containerd events at \(path)")
        state.withLock { $0.channel = channel }
        return channel
    }
}
