// What the end-to-end tests boot: the image `make guest-image` composed from the release binaries and our
// kernel (GUESTKIT_GUEST_DIR), through GuestLaunch — the same bridge + QEMU launch `make image` runs — under
// TCG. Each boot is bounded (QEMU with a lifetime, every wait with its own deadline) and prints its
// console, QEMU's and the bridge's logs when a test fails.
import ComposeImage
import Foundation
import GuestLaunch
import GuestClient
import GuestProto
import GuestSys
import GuestTestSupport
import Testing

enum GuestUnderTest {
    static let directory = ProcessInfo.processInfo.environment["GUESTKIT_GUEST_DIR"]
    static var manifest: String? { directory.map { $0 + "/rootfs.img.manifest.json" } }
    static var debianInitramfs: String? { directory.map { $0 + "/debian-initramfs.cpio.gz" } }
    static var debianKernel: String? {
        ProcessInfo.processInfo.environment["GUESTKIT_DEBIAN_KERNEL"].map { $0 + "/vmlinuz" }
    }

    static var bootable: Bool {
        guard let manifest else { return false }
        return FileManager.default.fileExists(atPath: manifest) && Command.exists("qemu-system-x86_64")
            && FileManager.default.isExecutableFile(atPath: BuiltProducts.path("guest-vsock-bridge"))
    }

    static var debianBootable: Bool {
        bootable && [debianInitramfs, debianKernel].allSatisfy { $0.map(FileManager.default.fileExists) ?? false }
    }

    /// A booted guest with its agent connected; stopped (and its scratch removed) when released.
    final class Session: @unchecked Sendable {
        // Sendable for the 50-exec threads: all stored properties are immutable; the client is Sendable.
        let scratch: ScratchDirectory
        let guest: RunningGuest
        let client: GuestClient
        let first: GuestInfoSnapshot

        /// `manifest`: another image than `make guest-image`'s (e.g. one a test composed).
        init(machine: String = "q35", kernel: String? = nil, initrd: String? = nil, appends: [String] = [],
             manifest: String? = nil) throws {
            scratch = try ScratchDirectory("gk-e2e")
            var request = BootRequest(manifestPath: try #require(manifest ?? GuestUnderTest.manifest), runDirectory: scratch.path)
            request.machine = machine
            request.accelerator = .tcg
            request.overrides.kernel = kernel
            request.overrides.initrd = initrd
            request.overrides.appends = appends
            request.bridgeExecutable = BuiltProducts.path("guest-vsock-bridge")
            request.maximumLifetime = .seconds(900)
            request.name = machine
            guest = try RunningGuest(request)
            do {
                (client, first) = try guest.connectAgent(timeout: .seconds(300))
            } catch {
                guest.stop()
                throw error
            }
        }

        /// Runs `args` with stdout and stderr captured; the exit and both outputs.
        func run(_ args: [String], on client: GuestClient? = nil) throws -> (exit: ProcessExit, stdout: String, stderr: String) {
            var request = Guestkit_V1_StartProcessRequest()
            request.args = args
            request.stdout = true
            request.stderr = true
            let client = client ?? self.client
            let started = try client.startProcess(request)
            let out = try client.attach(started.id, .stdout)
            defer { out.closeQuietly() }
            let err = try client.attach(started.id, .stderr)
            defer { err.closeQuietly() }
            // Read both streams while waiting: WaitProcess answers only once they are drained, and output
            // larger than a socket buffer needs a reader to get there.
            let stdoutReader = StreamReader(out)
            let stderrReader = StreamReader(err)
            let exit = try client.wait(started.id, timeoutNanoseconds: 120_000_000_000)
            let stdout = String(decoding: try stdoutReader.bytes(), as: UTF8.self)
            let stderr = String(decoding: try stderrReader.bytes(), as: UTF8.self)
            return (exit, stdout, stderr)
        }

        deinit { guest.stop() }
    }
}

