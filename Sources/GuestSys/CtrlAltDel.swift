// With ctrl-alt-del routed to init, the kernel sends SIGINT to PID 1 instead of
// rebooting on the spot, so the shutdown sequence (SIGTERM, grace, unmount) still runs.
import CGuestShim

extension Processes {
    /// reboot(RB_DISABLE_CAD): ctrl-alt-del becomes SIGINT to PID 1. Inside a PID namespace the kernel
    /// answers EINVAL (only restart and power-off are namespace-aware), which callers may ignore.
    public static func routeCtrlAltDelToInit() throws(SysError) {
        try sys("reboot", ["RB_DISABLE_CAD"]) { CGuestShim.reboot(0) }  // RB_DISABLE_CAD = 0 (sys/reboot.h)
    }
}
