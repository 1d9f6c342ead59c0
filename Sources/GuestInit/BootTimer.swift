import GuestSys

/// What telling the VMM "booted" means (`guest.boot_timer=`). Firecracker (`--boot-timer`) watches for
/// the byte 123 written at the start of its MMIO region and logs the boot time; Cloud Hypervisor logs
/// writes to its debug I/O port 0x80, where 0x60–0x7f is the userspace range (123 = 0x7b falls there).
public enum BootTimerAction: Equatable, Sendable {
    case none
    case mmio(address: UInt64, value: UInt8)
    case ioPort(port: UInt16, value: UInt8)
}

/// Fires the VMM's boot timer once the agent is ready.
public enum BootTimer {
    /// Firecracker's MAGIC_VALUE_SIGNAL_GUEST_BOOT_COMPLETE (its pseudo device boot_timer.rs).
    public static let readyValue: UInt8 = 123
    /// Cloud Hypervisor's debug I/O port (its docs/debug-port.md).
    public static let debugPort: UInt16 = 0x80

    public static func action(_ kind: BootTimerKind, mmioAddress: UInt64) -> BootTimerAction {
        switch kind {
        case .none: return .none
        case .firecracker: return .mmio(address: mmioAddress, value: readyValue)
        case .cloudHypervisor: return .ioPort(port: debugPort, value: readyValue)
        }
    }

    /// Performs the write. Only a machine's init may: on a host, /dev/mem and I/O ports are the host's.
    public static func fire(_ action: BootTimerAction, confinement: Confinement, console: Console) {
        guard action != .none else { return }
        guard confinement.isMachine else {
            console.info("boot timer \(action) skipped: not the machine's init")
            return
        }
        do throws(SysError) {
            switch action {
            case .none: return
            case .mmio(let address, let value):
                let page: UInt64 = 4096
                let base = address & ~(page - 1)
                let memory = try FileDescriptor.open("/dev/mem", [.readWrite, .sync])
                defer { memory.closeQuietly() }
                let mapping = try MemoryMapping(fd: memory, size: Int(page), offset: Int64(bitPattern: base))
                mapping.base.storeBytes(of: value, toByteOffset: Int(address - base), as: UInt8.self)
            case .ioPort(let port, let value):
                try PortIO.writeByte(value, port: port)
            }
            console.debug("boot timer fired: \(action)")
        } catch {
            console.warning("boot timer \(action): \(error)")
        }
    }
}
