// The init ↔ agent control channel (contract 1). guest-init makes a Unix socketpair and hands one end
// to the agent as fd 3, with GUESTKIT_INIT_FD=3 in its environment. The agent writes lines:
//   READY\n     once it is listening (init records CLOCK_BOOTTIME as `agent_ready`)
//   POWEROFF\n  the host asked for a power-off (Shutdown RPC): init runs its shutdown sequence
//   REBOOT\n    likewise, ending in a restart
// Init writes nothing back. Anything else is logged and ignored; the agent never signals PID 1.

/// One line the agent sent.
public enum ControlMessage: Equatable, Sendable {
    case ready
    case powerOff
    case reboot
    /// A line init does not understand (logged, then ignored).
    case unknown(String)
}

/// Splits the agent's byte stream into messages, whatever the read boundaries.
public struct ControlLineDecoder: Sendable {
    /// Longer lines are not part of the protocol; they are dropped rather than buffered without bound.
    public static let maximumLine = 256
    private var buffer: [UInt8] = []
    private var discarding = false

    public init() {}

    public mutating func feed(_ bytes: [UInt8]) -> [ControlMessage] {
        var messages: [ControlMessage] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if discarding {
                    messages.append(.unknown("(line longer than \(Self.maximumLine) bytes)"))
                } else {
                    messages.append(Self.message(buffer))
                }
                buffer.removeAll(keepingCapacity: true)
                discarding = false
            } else if !discarding {
                buffer.append(byte)
                if buffer.count > Self.maximumLine {
                    buffer.removeAll(keepingCapacity: true)
                    discarding = true
                }
            }
        }
        return messages
    }

    private static func message(_ line: [UInt8]) -> ControlMessage {
        var text = String(decoding: line, as: UTF8.self)
        if text.hasSuffix("\r") { text.removeLast() }
        switch text {
        case "READY": return .ready
        case "POWEROFF": return .powerOff
        case "REBOOT": return .reboot
        default: return .unknown(text)
        }
    }
}
