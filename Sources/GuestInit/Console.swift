import GuestSys

/// How much guest-init says on its console (`guest.log=`).
public enum LogLevel: Int, Comparable, Sendable, CaseIterable {
    case error = 0, warning, info, debug

    /// Parses `error`, `warn`/`warning`, `info`, `debug`.
    public init?(name: String) {
        switch name.lowercased() {
        case "error": self = .error
        case "warn", "warning": self = .warning
        case "info": self = .info
        case "debug": self = .debug
        default: return nil
        }
    }

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}

/// guest-init's log: one line per event on its standard error, which is the kernel console when the
/// kernel starts it. Lines start like the kernel's own (`[    1.234567]`, CLOCK_BOOTTIME seconds) so the
/// two interleave readably on a serial console.
public struct Console: Sendable {
    public var level: LogLevel
    public let fd: FileDescriptor

    public init(level: LogLevel = .info, fd: FileDescriptor = .standardError) {
        self.level = level
        self.fd = fd
    }

    public func error(_ message: String) { write(.error, "error: " + message) }
    public func warning(_ message: String) { write(.warning, "warning: " + message) }
    public func info(_ message: String) { write(.info, message) }
    public func debug(_ message: String) { write(.debug, message) }

    private func write(_ at: LogLevel, _ message: String) {
        guard at <= level else { return }
        let line = "[" + Self.timestamp(Clock.bootTimeNanoseconds) + "] guest-init: " + message + "\n"
        // A console that cannot be written to has nowhere to report that either.
        try? fd.writeAll(line)
    }

    /// "    1.234567": seconds with microseconds, right-aligned to 5 integer digits like printk.
    static func timestamp(_ nanoseconds: UInt64) -> String {
        let seconds = String(nanoseconds / 1_000_000_000)
        let micros = String((nanoseconds % 1_000_000_000) / 1000)
        return String(repeating: " ", count: max(0, 5 - seconds.count)) + seconds + "."
            + String(repeating: "0", count: 6 - micros.count) + micros
    }
}

/// Durations as people read them in logs: "12.345 ms".
enum DurationText {
    /// Milliseconds with three decimals.
    static func milliseconds(_ nanoseconds: UInt64) -> String {
        let micros = nanoseconds / 1000
        let fraction = String(micros % 1000)
        return String(micros / 1000) + "." + String(repeating: "0", count: 3 - fraction.count) + fraction + " ms"
    }
}
