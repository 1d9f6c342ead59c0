import GuestSys

/// The control socket to guest-init (contract 1): the agent says READY once listening and asks for a
/// power-off or reboot; guest-init does the rest. Absent when the agent was started some other way.
struct InitChannel {
    let fd: FileDescriptor

    /// Contract 1: guest-init passes the socket's number in GUESTKIT_INIT_FD.
    static func adopt() -> InitChannel? {
        guard let text = Processes.environmentValue("GUESTKIT_INIT_FD"), let number = Int32(text), number >= 0 else {
            return nil
        }
        let fd = FileDescriptor(rawValue: number)
        guard (try? fd.status()) != nil else {
            AgentLog.error("GUESTKIT_INIT_FD=\(text) is not an open descriptor; Shutdown will be refused")
            return nil
        }
        // Programs the agent starts must not inherit it.
        try? fd.setCloseOnExec()
        return InitChannel(fd: fd)
    }

    func sayReady() {
        do {
            try fd.writeAll("READY\n")
        } catch {
            AgentLog.error("cannot tell guest-init READY on \(fd): \(error)")
        }
    }

    func requestShutdown(reboot: Bool) throws(AgentError) {
        do throws(SysError) {
            try fd.writeAll(reboot ? "REBOOT\n" : "POWEROFF\n")
        } catch {
            throw .unavailable("cannot reach guest-init on \(fd): \(error)")
        }
        AgentLog.info("asked guest-init to \(reboot ? "reboot" : "power off")")
    }
}
