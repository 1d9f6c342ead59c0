import Foundation
import GuestSys

/// The shim's log: logrus-style lines (`time=… level=… msg=…`, what containerd's own shims write) on
/// standard error, which the server points at the bundle's `log` FIFO that containerd copies into its log.
public struct ShimLog: Sendable {
    public let debugEnabled: Bool
    let id: String

    public init(debug: Bool, id: String) {
        self.debugEnabled = debug
        self.id = id
    }

    func info(_ message: String) { write("info", message) }
    func error(_ message: String) { write("error", message) }
    func warning(_ message: String) { write("warning", message) }
    func debug(_ message: String) {
        if debugEnabled { write("debug", message) }
    }

    private func write(_ level: String, _ message: String) {
        let time = ISO8601DateFormatter.string(from: Date(), timeZone: .gmt,
                                               formatOptions: [.withInternetDateTime, .withFractionalSeconds])
        let quoted = message.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
        try? FileDescriptor.standardError.writeAll(
            "time=\"\(time)\" level=\(level) msg=\"\(quoted)\" runtime=io.containerd.guestkit.v1 id=\(id)\n")
    }
}
