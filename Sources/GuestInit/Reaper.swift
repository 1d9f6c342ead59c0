import GuestSys

/// Collects exited children. As PID 1, every orphan in the system is ours to reap; an unreaped one
/// stays a zombie holding its pid forever.
public enum Reaper {
    /// What one pass found.
    public struct Harvest: Sendable {
        public var exited: [(pid: Int32, status: WaitStatus)] = []
        /// False once waitpid says ECHILD: no process is left but init.
        public var childrenRemain = true
    }

    /// Reaps every child that has exited, without blocking.
    public static func reapAll() -> Harvest {
        var harvest = Harvest()
        while true {
            do throws(SysError) {
                guard let (pid, status) = try Processes.reapOne() else { return harvest }
                // Stopped and continued children are still alive; only exits count.
                switch status {
                case .exited, .signaled: harvest.exited.append((pid, status))
                case .stopped, .continued: continue
                }
            } catch {
                harvest.childrenRemain = error.code != Errno.ECHILD
                return harvest
            }
        }
    }
}
