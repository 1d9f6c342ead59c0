// Log lines on standard error, one per event, prefixed with the program name and a level, so an operator
// running the bridge beside QEMU can tell a refused connection from a broken guest driver.
import GuestSys

/// The bridge's log: levels and a line sink.
public struct BridgeLog: Sendable {
    /// Severity, from most to least important.
    public enum Level: Int, Comparable, Sendable {
        case error, warning, info, debug
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        var label: String { ["error", "warning", "info", "debug"][rawValue] }
    }

    public var level: Level
    private let sink: @Sendable (String) -> Void

    public init(level: Level = .info, sink: @escaping @Sendable (String) -> Void = BridgeLog.standardError) {
        self.level = level
        self.sink = sink
    }

    public static let standardError: @Sendable (String) -> Void = { line in
        try? FileDescriptor.standardError.writeAll(line + "\n")
    }

    public func log(_ level: Level, _ message: @autoclosure () -> String) {
        guard level <= self.level else { return }
        sink("guest-vsock-bridge: \(level.label): \(message())")
    }

    public func error(_ message: @autoclosure () -> String) { log(.error, message()) }
    public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
}
