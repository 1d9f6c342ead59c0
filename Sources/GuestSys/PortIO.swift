// Port I/O for the guest: Cloud Hypervisor's boot timer is a write to I/O port 0x80 (its debug port).
import CGuestShim

/// x86 I/O port writes (ioperm + outb). Needs CAP_SYS_RAWIO; only a guest's PID 1 should use it.
public enum PortIO {
    /// Writes one byte to an I/O port.
    public static func writeByte(_ value: UInt8, port: UInt16) throws(SysError) {
        try sys("outb", ["0x" + String(port, radix: 16), "\(value)"]) { gk_outb(port, value) }
    }
}
