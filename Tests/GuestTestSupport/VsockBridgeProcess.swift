// guest-vsock-bridge for tests: starts the built executable before QEMU, gives the QEMU arguments that
// attach it, and opens hybrid vsock connections to the guest (`CONNECT <port>\n` → `OK <hostport>\n`).
//
//     let bridge = try VsockBridgeProcess(directory: scratch.path, guestCID: 3)
//     config.extraArguments += bridge.qemuArguments
//     … boot …
//     let (fd, _) = try bridge.connect(port: 1024)   // a stream to guest port 1024
import Foundation
import GuestLaunch
import GuestSys
import HostProcess

/// A running guest-vsock-bridge with its sockets in a test directory.
public final class VsockBridgeProcess: @unchecked Sendable {
    // Sendable for helper threads: its own fields are immutable; ChildProcess guards the child's status.

    /// The vhost-user socket QEMU connects to.
    public let socketPath: String
    /// The hybrid vsock socket; guest connections to CID 2 port P reach `udsPath + "_P"`.
    public let udsPath: String
    public let guestCID: UInt64
    /// The bridge's log (its standard error).
    public let logPath: String
    private let process: ChildProcess

    /// Starts the bridge (`executable` defaults to the built product) and waits until it listens.
    public init(directory: String, guestCID: UInt64 = 3, extraArguments: [String] = [], executable: String? = nil,
                name: String = "vsock") throws {
        socketPath = (directory as NSString).appendingPathComponent("\(name).vhost")
        udsPath = (directory as NSString).appendingPathComponent("\(name).sock")
        logPath = (directory as NSString).appendingPathComponent("\(name)-bridge.log")
        self.guestCID = guestCID
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process = try RunningGuest.startBridge(executable ?? BuiltProducts.path("guest-vsock-bridge"),
                                              ["--socket", socketPath, "--uds", udsPath, "--guest-cid", "\(guestCID)"] + extraArguments,
                                              logPath: logPath)
    }

    /// The QEMU arguments that attach this bridge as the guest's vsock device (the machine also needs
    /// shared memory: `QemuMachine.Configuration.sharedMemory`, on by default).
    public var qemuArguments: [String] {
        ["-chardev", "socket,id=vsockbridge,path=\(socketPath)", "-device", "vhost-user-vsock-pci,chardev=vsockbridge"]
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    /// The bridge's pid (also its process group id).
    public var pid: Int32 { process.pid }
    public var isRunning: Bool { process.isRunning }
    /// How the bridge ended; nil while it runs.
    public var exitStatus: WaitStatus? { process.exitStatus }

    /// Opens a stream to guest port `port` through the hybrid socket; returns the blocking descriptor
    /// (the caller closes it) and the host port the bridge chose. Throws when the guest refuses (the
    /// bridge closes the socket without `OK`).
    public func connect(port: UInt32) throws -> (fd: FileDescriptor, hostPort: UInt32) {
        try HybridVsock.connect(udsPath: udsPath, port: port)
    }

    /// Retries `connect(port:)` until the guest accepts (its service is up and its vsock driver running),
    /// then closes that probe connection. Use after boot, before the first real connection.
    public func waitUntilGuestListens(port: UInt32, timeout: Duration = .seconds(60)) throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            do {
                let (fd, _) = try connect(port: port)
                fd.closeQuietly()
                return
            } catch {
                guard ContinuousClock.now < deadline, isRunning else {
                    throw QemuMachine.Failure(description: "guest port \(port) did not accept within \(timeout): \(error)\nbridge log:\n\(log)")
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
    }

    /// Waits for the bridge to exit by itself; how it ended, or nil at the deadline.
    public func waitForExit(timeout: Duration) -> WaitStatus? {
        process.wait(timeout: timeout)
    }

    /// SIGTERM (the bridge closes its connections and removes its sockets), SIGKILL after 5 s. Idempotent.
    @discardableResult
    public func stop() -> WaitStatus? {
        process.stop(grace: .seconds(5))
    }

    deinit { stop() }
}

/// The host side of Firecracker's hybrid vsock handshake.
public enum HybridVsock {
    /// A refused or broken handshake.
    public struct Refused: Error, CustomStringConvertible {
        public let description: String
    }

    /// Connects to `udsPath`, writes `CONNECT <port>\n` and reads `OK <hostport>\n` byte by byte (so no
    /// stream byte after it is consumed). Returns a blocking descriptor.
    public static func connect(udsPath: String, port: UInt32) throws -> (fd: FileDescriptor, hostPort: UInt32) {
        let fd = try Sockets.connect(.unix(udsPath))
        do {
            try Sockets.sendAll(fd, Array("CONNECT \(port)\n".utf8))
            var line: [UInt8] = []
            while line.last != UInt8(ascii: "\n") {
                let byte = try fd.read(upTo: 1)
                guard let b = byte.first else {
                    throw Refused(description: "CONNECT \(port) via \(udsPath): closed without OK (nothing listening on guest port \(port)?)")
                }
                line.append(b)
                guard line.count < 64 else { throw Refused(description: "CONNECT \(port): reply too long") }
            }
            let text = String(decoding: line.dropLast(), as: UTF8.self)
            guard text.hasPrefix("OK "), let hostPort = UInt32(text.dropFirst(3)) else {
                throw Refused(description: "CONNECT \(port): unexpected reply \(text.debugDescription)")
            }
            return (fd, hostPort)
        } catch {
            fd.closeQuietly()
            throw error
        }
    }
}
