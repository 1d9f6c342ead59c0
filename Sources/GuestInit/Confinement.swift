import GuestSys

/// Where guest-init is running, which decides what it may touch. As the PID 1 of a machine (a guest VM)
/// it does everything. As the PID 1 of a PID namespace on a developer's machine (tests, benchmarks) it
/// mounts and unmounts only inside its own private mount namespace and leaves alone what the namespaces
/// do not isolate: kernel modules, /dev/mem and I/O ports, read-only remounts of shared superblocks, a
/// host name it shares with the host, and switch_root (which deletes the contents of `/`).
public enum Confinement: Equatable, Sendable {
    /// PID 1 of the initial PID namespace: the guest machine's init.
    case machine
    /// PID 1 of a child PID namespace whose mounts are all private.
    case pidNamespace(ownUTS: Bool)

    /// Why guest-init refuses to run at all.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case notPID1(pid: Int32)
        case sharedMounts(example: String)

        public var description: String {
            switch self {
            case .notPID1(let pid):
                return "guest-init must run as PID 1 (this is pid \(pid)); it mounts, kills every process and "
                    + "reboots, so it refuses anywhere else. To try it safely: unshare --pid --mount --uts --fork "
                    + "--mount-proc guest-init --cmdline '…'"
            case .sharedMounts(let example):
                return "guest-init is PID 1 of a PID namespace whose mounts propagate to the host (\(example) is "
                    + "shared), so its unmounts could reach the host; run it with unshare --mount (private "
                    + "propagation)"
            }
        }
    }

    /// Decides from the facts: our pid, our PID and UTS namespace inodes (nil when /proc is unreadable,
    /// as for a kernel-started init before proc is mounted) and /proc/self/mountinfo's text.
    public static func decide(pid: Int32, pidNamespace: UInt64?, utsNamespace: UInt64?, mountInfo: String)
        -> Result<Confinement, Refusal>
    {
        guard pid == 1 else { return .failure(.notPID1(pid: pid)) }
        guard let pidNamespace, pidNamespace != Namespaces.initialPIDInode else { return .success(.machine) }
        if let shared = firstSharedMount(mountInfo) { return .failure(.sharedMounts(example: shared)) }
        return .success(.pidNamespace(ownUTS: utsNamespace.map { $0 != Namespaces.initialUTSInode } ?? false))
    }

    /// Reads the facts from this process. Call once /proc is mounted (or known to be absent).
    public static func detect() -> Result<Confinement, Refusal> {
        decide(pid: Processes.currentID,
               pidNamespace: try? Namespaces.inode("pid"),
               utsNamespace: try? Namespaces.inode("uts"),
               mountInfo: (try? FileSystem.readText("/proc/self/mountinfo")) ?? "")
    }

    /// The mount point of the first mount with a `shared:N` propagation tag (proc(5), mountinfo field 7+).
    static func firstSharedMount(_ mountInfo: String) -> String? {
        for line in mountInfo.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 6, let separator = fields[6...].firstIndex(of: "-") else { continue }
            if fields[6..<separator].contains(where: { $0.hasPrefix("shared:") }) { return String(fields[4]) }
        }
        return nil
    }

    /// Whether steps that no namespace isolates may run.
    public var isMachine: Bool { self == .machine }

    /// Whether setting the host name stays inside this guest.
    public var mayChangeHostname: Bool {
        switch self {
        case .machine: return true
        case .pidNamespace(let ownUTS): return ownUTS
        }
    }
}
