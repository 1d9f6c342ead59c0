import Foundation
import GuestSys
import HostNetwork

/// What a running server records in the bundle (`guestkit-shim.json`) so that `delete`, run after the
/// server died, can find and end what it left: the VM's QEMU and bridge (with their start times, so a
/// reused pid is never signalled) and the run directory. Written by the shim itself; the guest never
/// influences it.
struct ShimStateFile: Codable, Equatable {
    static let name = "guestkit-shim.json"

    var serverPID: Int32 = 0
    var runDirectory: String?
    var qemuPID: Int32?
    var qemuStartTime: UInt64?
    var bridgePID: Int32?
    var bridgeStartTime: UInt64?
    /// The tc redirects made in the container's network namespace, for `delete` to take down.
    var network: TaskNetworkRecord?

    static func read(bundle: String) -> ShimStateFile? {
        guard let data = FileManager.default.contents(atPath: bundle + "/" + name), data.count <= 64 << 10 else { return nil }
        return try? JSONDecoder().decode(ShimStateFile.self, from: data)
    }

    /// Reads, changes and atomically rewrites the file.
    static func update(bundle: String, _ change: (inout ShimStateFile) -> Void) throws(ShimError) {
        var state = read(bundle: bundle) ?? ShimStateFile()
        state.serverPID = Processes.currentID
        change(&state)
        do {
            let data = try JSONEncoder().encode(state)
            try data.write(to: URL(fileURLWithPath: bundle + "/" + name), options: .atomic)
        } catch {
            throw .system("cannot write \(bundle)/\(name): \(error)")
        }
    }

    static func remove(bundle: String) {
        try? FileSystem.unlink(bundle + "/" + name)
    }
}

/// A process's start time (field 22 of /proc/<pid>/stat, clock ticks since boot): with the pid it names
/// one process for good, since pids are reused.
enum ProcessStartTime {
    static func of(_ pid: Int32) -> UInt64? {
        guard let text = try? FileSystem.readText("/proc/\(pid)/stat"),
              let close = text.lastIndex(of: ")") else { return nil }
        // The command name (field 2) may contain spaces and parentheses: count fields after its last ')'.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }
}
