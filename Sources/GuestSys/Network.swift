import CGuestShim

/// Network interface controls the guest needs before any container network exists.
public enum NetworkInterfaces {
    /// Brings an interface up (IFF_UP), as `ip link set NAME up` does.
    public static func bringUp(_ name: String) throws(SysError) {
        try sys("ioctl", ["SIOCSIFFLAGS", name, "IFF_UP"]) { gk_interface_up(name) }
    }
}

/// Tap devices: the host end of a VM's virtio-net interface.
public enum TapDevices {
    /// Opens /dev/net/tun and attaches it to the tap `name` in the calling thread's network namespace
    /// (created there when missing, and removed when the last descriptor attached to it is closed).
    /// With `vnetHeader` every frame carries a virtio-net header, so the VMM can pass offloads through.
    public static func open(_ name: String, vnetHeader: Bool = true) throws(SysError) -> FileDescriptor {
        let fd = try FileDescriptor.open("/dev/net/tun", .readWrite)
        do {
            try sys("ioctl", [fd.description, "TUNSETIFF", name]) { gk_tap_attach(fd.rawValue, name, vnetHeader ? 1 : 0) }
        } catch {
            fd.closeQuietly()
            throw error
        }
        return fd
    }
}

/// Network namespaces, entered per thread.
public enum NetworkNamespaces {
    /// setns(fd, CLONE_NEWNET) for the calling thread only: sockets and tap devices it opens from then on
    /// belong to that namespace (and stay there when used from other threads).
    public static func enter(_ fd: FileDescriptor) throws(SysError) {
        try sys("setns", [fd.description, "CLONE_NEWNET"]) { gk_setns_network(fd.rawValue) }
    }
}
