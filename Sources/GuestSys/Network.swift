import CGuestShim

/// Network interface controls the guest needs before any container network exists.
public enum NetworkInterfaces {
    /// Brings an interface up (IFF_UP), as `ip link set NAME up` does.
    public static func bringUp(_ name: String) throws(SysError) {
        try sys("ioctl", ["SIOCSIFFLAGS", name, "IFF_UP"]) { gk_interface_up(name) }
    }
}
