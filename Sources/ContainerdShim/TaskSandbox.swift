import Foundation
import GuestClient
import GuestLaunch
import GuestProto

/// A task's micro-VM: the guest image booted (bridge + QEMU, as `compose-guest boot` does) with the
/// task's share attached over virtio-9p, the NICs of its carried network namespace, and a connection to its
/// agent. Booting is bounded by the
/// configuration's boot timeout: a guest whose agent never answers is killed and the error names it.
final class TaskSandbox: Sendable {
    let guest: RunningGuest
    let client: GuestClient
    let config: ShimConfig

    /// Boots the VM and waits for its agent. `runDirectory` holds the bridge sockets and the console log.
    init(config: ShimConfig, runDirectory: String, share: TaskShare, interfaces: [GuestLaunch.NetworkInterface],
         log: ShimLog) throws(ShimError) {
        self.config = config
        var boot = BootRequest(manifestPath: config.manifest, runDirectory: runDirectory)
        boot.machine = config.machine
        boot.accelerator = AcceleratorChoice(rawValue: config.accelerator) ?? .auto
        boot.bridgeExecutable = config.bridge
        boot.qemu = config.qemu
        boot.overrides.memoryMiB = config.memoryMiB
        boot.overrides.vcpus = config.vcpus
        if let kernel = config.kernel { boot.overrides.kernel = kernel }
        boot.overrides.appends += config.kernelArguments
        // The VM lives as long as its task; the shim stops it.
        boot.maximumLifetime = .seconds(10 * 365 * 24 * 3600)
        let running: RunningGuest
        do {
            var request = try boot.launchRequest()
            request.vm.shares.append(GuestLaunch.SharedDirectory(hostPath: share.hostRoot, tag: TaskShare.tag))
            request.vm.interfaces += interfaces
            running = try RunningGuest(request)
        } catch {
            throw .guest("cannot boot the task's VM from \(config.manifest): \(error)")
        }
        log.info("VM started: QEMU pid \(running.qemuPID) (\(running.accelerator)), console \(running.consolePath)")
        do {
            (client, _) = try running.connectAgent(timeout: config.bootTimeout)
            log.info("agent ready")
        } catch {
            running.stop()
            throw .guest("the task's VM did not become ready: \(error)")
        }
        guest = running
    }

    var qemuPID: Int32 { guest.qemuPID }

    /// Any one agent call's bound, in nanoseconds (the ttRPC timeout the agent enforces).
    var callTimeout: Int64 { Int64(config.callTimeout.components.seconds) * 1_000_000_000 }

    /// Powers the VM off through the agent; kills it when it does not end within the grace period.
    func stop(log: ShimLog) {
        do {
            _ = try guest.shutdown(client, timeout: config.shutdownGrace)
        } catch {
            log.info("VM shutdown: \(error); stopped it")
            guest.stop()
        }
        client.close()
    }

    /// Kills the VM at once.
    func kill() {
        client.close()
        guest.stop()
    }
}
