import GuestSys

/// How the guest ends.
public enum ShutdownKind: Equatable, Sendable, CustomStringConvertible {
    case powerOff, reboot

    public var description: String { self == .powerOff ? "power-off" : "reboot" }
    var command: RebootCommand { self == .powerOff ? .powerOff : .restart }
}

/// The order in which mounts come down: newest first (the reverse of /proc/self/mounts), so a mount is
/// always gone before the one it sits on. `/` is not unmounted but remounted read-only last.
public enum UnmountPlan {
    public static func order(_ table: [MountEntry]) -> [String] {
        table.reversed().map(\.target).filter { $0 != "/" }
    }
}

/// The end of every boot, in the order that loses nothing: ask every process to stop (SIGTERM, and
/// SIGCONT so stopped ones can act on it), wait out the grace period while reaping, SIGKILL whatever is
/// left, sync, unmount newest-first, remount `/` read-only, sync again, reboot(2). In a PID namespace the
/// kernel turns reboot(2) into the end of the namespace: its init dies of SIGINT (power-off) or SIGHUP
/// (restart), which is how tests see the outcome from outside.
public struct ShutdownSequence {
    public let console: Console
    public let confinement: Confinement
    public let signals: SignalDescriptor
    public let graceMilliseconds: UInt64

    public init(console: Console, confinement: Confinement, signals: SignalDescriptor, graceMilliseconds: UInt64) {
        self.console = console
        self.confinement = confinement
        self.signals = signals
        self.graceMilliseconds = graceMilliseconds
    }

    public func run(_ kind: ShutdownKind, reason: String) -> Never {
        console.info("\(kind): \(reason)")
        let started = Clock.monotonicNanoseconds
        // Read before /sys comes down with the other mounts.
        let command = Self.command(for: kind, machine: confinement.isMachine, hasACPI: FileSystem.exists("/sys/firmware/acpi"))
        if command != kind.command {
            console.info("no ACPI on this machine, so no power-off: restarting instead (the VMM ends the VM on a guest "
                + "restart: QEMU with -no-reboot, Firecracker)")
        }

        try? Processes.signal(-1, Signal.terminate)
        try? Processes.signal(-1, Signal.continue)
        var remaining = waitForChildren(milliseconds: graceMilliseconds)
        if remaining {
            console.info("processes still running after \(DurationText.seconds(graceMilliseconds)) of grace: SIGKILL")
            try? Processes.signal(-1, Signal.kill)
            remaining = waitForChildren(milliseconds: 5000)
            if remaining { console.warning("processes survive SIGKILL (stuck in the kernel?); going on") }
        } else {
            console.debug("every process ended within the grace period")
        }

        FileSystem.syncAll()
        let table = (try? MountEntry.current()) ?? []
        var unmounted = 0
        for target in UnmountPlan.order(table) {
            do throws(SysError) {
                try Mounts.unmount(target)
                unmounted += 1
            } catch {
                // EINVAL: already gone with its parent. EBUSY: something still holds it (only a
                // machine's init may then make its superblock read-only: in a namespace it is the host's).
                if error.code == Errno.EBUSY && confinement.isMachine {
                    try? Mounts.mount(source: "", target: target, type: nil, flags: [.remount, .readOnly])
                }
                if error.code != Errno.EINVAL { console.debug("unmount \(target): \(error)") }
            }
        }
        if confinement.isMachine {
            do throws(SysError) {
                try Mounts.mount(source: "", target: "/", type: nil, flags: [.remount, .readOnly])
            } catch {
                console.warning("cannot remount / read-only: \(error)")
            }
        }
        FileSystem.syncAll()
        console.info("unmounted \(unmounted) of \(table.count) mounts; reboot(\(command == .powerOff ? "POWER_OFF" : "RESTART")) "
            + "after \(DurationText.milliseconds(Clock.monotonicNanoseconds - started))")

        do throws(SysError) {
            try Processes.reboot(command)
        } catch {
            console.error("reboot(2) failed: \(error)")
        }
        // Only reached if reboot(2) failed. Returning from PID 1 would panic the kernel.
        if !confinement.isMachine { Processes.exitImmediately(1) }
        while true { Clock.sleep(nanoseconds: 3_600_000_000_000) }
    }

    /// The reboot(2) command for `kind`. An x86 machine without ACPI (QEMU microvm with acpi=off, which
    /// TCG needs; Firecracker) cannot power off: the kernel would halt and the VM hang with it. There a
    /// restart is the power-off, as Firecracker defines it (its guests end with `reboot=k`).
    static func command(for kind: ShutdownKind, machine: Bool, hasACPI: Bool) -> RebootCommand {
        #if arch(x86_64)
        if kind == .powerOff && machine && !hasACPI { return .restart }
        #endif
        return kind.command
    }

    /// Reaps until no process is left or the time is up; true when some remain.
    private func waitForChildren(milliseconds: UInt64) -> Bool {
        let deadline = Clock.monotonicDeadline(afterMilliseconds: milliseconds)
        guard let poller = try? Poller(), (try? poller.add(signals.fd, .readable)) != nil else {
            // No poller: fall back to plain polling of waitpid.
            while Clock.monotonicNanoseconds < deadline {
                if !Reaper.reapAll().childrenRemain { return false }
                Clock.sleep(nanoseconds: 10_000_000)
            }
            return Reaper.reapAll().childrenRemain
        }
        defer { poller.fd.closeQuietly() }
        while true {
            _ = try? signals.readAll()
            if !Reaper.reapAll().childrenRemain { return false }
            let now = Clock.monotonicNanoseconds
            if now >= deadline { return true }
            _ = try? poller.wait(max: 1, timeoutMilliseconds: Int32(min((deadline - now) / 1_000_000 + 1, 1000)))
        }
    }
}
