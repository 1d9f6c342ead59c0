import ContainerdProto
import Foundation
import SwiftProtobuf
import GuestSys
import HostNetwork

/// The `delete` action, run by containerd when it lost its server (SIGKILLed, or gone after a containerd
/// restart): ends the VM the server left (the pids and start times it recorded in the bundle, so a reused
/// pid is never signalled), undoes the mounts, removes the run directory and the socket, and answers with
/// the DeleteResponse containerd expects: exit status 137 (SIGKILL), as runc's and Kata's shims report.
public enum ShimDelete {
    public static func run(_ arguments: ShimArguments) throws(ShimError) -> [UInt8] {
        let bundle = arguments.bundle ?? FileManager.default.currentDirectoryPath
        if let state = ShimStateFile.read(bundle: bundle) {
            for (pid, started) in [(Optional(state.serverPID), nil as UInt64?), (state.qemuPID, state.qemuStartTime),
                                   (state.bridgePID, state.bridgeStartTime)] {
                guard let pid, pid > 1, pid != Processes.currentID else { continue }
                // The server's start time is not recorded: it is signalled only while it still runs this binary.
                if let started {
                    guard ProcessStartTime.of(pid) == started else { continue }
                } else {
                    guard isShimServer(pid, id: arguments.id) else { continue }
                }
                try? Processes.signal(pid, Signal.kill)
            }
            if let network = state.network { TaskNetwork.cleanUp(network) }
            if let run = state.runDirectory {
                let share = run + "/share"
                if let entries = try? FileManager.default.contentsOfDirectory(atPath: share + "/mounts") {
                    for entry in entries { RootfsMount.unmount(share + "/mounts/" + entry) }
                }
                RootfsMount.unmount(share + "/rootfs")
                RootfsMount.unmount(bundle + "/rootfs")
                if !isMountPoint(share + "/rootfs") { try? FileManager.default.removeItem(atPath: run) }
            }
            ShimStateFile.remove(bundle: bundle)
        }
        RootfsMount.unmount(bundle + "/rootfs")
        try? FileSystem.unlink(ShimStart.socketPath(containerdAddress: arguments.address, namespace: arguments.namespace, id: arguments.id))
        var response = Containerd_Task_V2_DeleteResponse()
        response.exitStatus = 128 + UInt32(Signal.kill)
        response.exitedAt = Google_Protobuf_Timestamp(date: Date())
        do {
            return try response.serializedBytes()
        } catch {
            throw .system("cannot encode the DeleteResponse: \(error)")
        }
    }

    /// Whether `pid` still runs the shim server for task `id` (its command line names it).
    static func isShimServer(_ pid: Int32, id: String) -> Bool {
        guard let bytes = try? FileSystem.readFile("/proc/\(pid)/cmdline", limit: 64 << 10) else { return false }
        let words = bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        guard let program = words.first, program.hasSuffix("containerd-shim-guestkit-v1") else { return false }
        return zip(words, words.dropFirst()).contains { $0 == "-id" && $1 == id }
    }

    static func isMountPoint(_ path: String) -> Bool {
        guard let here = try? FileSystem.status(path), let parent = try? FileSystem.status(path + "/..") else { return false }
        return here.device != parent.device
    }
}
