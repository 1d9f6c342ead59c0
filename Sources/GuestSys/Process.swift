#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGuestShim

/// How a child ended (or stopped), decoded from a waitpid status.
public enum WaitStatus: Sendable, Equatable, CustomStringConvertible {
    case exited(code: Int32)
    case signaled(signal: Int32, coreDumped: Bool)
    case stopped(signal: Int32)
    case continued

    public init(raw status: Int32) {
        if gk_wifexited(status) != 0 {
            self = .exited(code: gk_wexitstatus(status))
        } else if gk_wifsignaled(status) != 0 {
            self = .signaled(signal: gk_wtermsig(status), coreDumped: gk_wcoredump(status) != 0)
        } else if status == 0xffff {
            self = .continued
        } else {
            self = .stopped(signal: (status >> 8) & 0xff)
        }
    }

    /// The shell's convention: the exit code, or 128 + the signal number.
    public var shellCode: Int32 {
        switch self {
        case .exited(let code): return code
        case .signaled(let signal, _), .stopped(let signal): return 128 + signal
        case .continued: return 0
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exited with code \(code)"
        case .signaled(let signal, let core):
            return "killed by \(Signal.name(signal))\(core ? " (core dumped)" : "")"
        case .stopped(let signal): return "stopped by \(Signal.name(signal))"
        case .continued: return "continued"
        }
    }
}

/// reboot(2) commands.
public enum RebootCommand: Sendable {
    case powerOff, restart, halt

    var raw: Int32 {
        switch self {
        case .powerOff: return Int32(bitPattern: UInt32(RB_POWER_OFF))
        case .restart: return Int32(bitPattern: UInt32(RB_AUTOBOOT))
        case .halt: return Int32(bitPattern: UInt32(RB_HALT_SYSTEM))
        }
    }
}

/// Process-wide calls: ids, signals to others, waiting, sessions, identity of the machine.
public enum Processes {
    public static var currentID: pid_t { getpid() }
    public static var parentID: pid_t { getppid() }
    public static var effectiveUserID: uid_t { geteuid() }

    /// kill(2). `pid` may be negative (a process group) or -1 (everyone we may signal).
    public static func signal(_ pid: pid_t, _ signal: Int32) throws(SysError) {
        try sys("kill", ["\(pid)", Signal.name(signal)]) { Glibc.kill(pid, signal) }
    }

    /// waitpid(2) without blocking: nil when no child has changed state.
    public static func reapOne(_ pid: pid_t = -1) throws(SysError) -> (pid: pid_t, status: WaitStatus)? {
        var status: Int32 = 0
        let result = try sys("waitpid", ["\(pid)", "WNOHANG"]) { Glibc.waitpid(pid, &status, WNOHANG) }
        if result == 0 { return nil }
        return (result, WaitStatus(raw: status))
    }

    /// Whether child `pid` has ended, without reaping it (waitid with WNOWAIT): its pid and process group
    /// id stay reserved until `reapOne` or `wait`, so signalling the group in between cannot hit strangers.
    public static func hasEnded(_ pid: pid_t) throws(SysError) -> Bool {
        try sys("waitid", ["P_PID", "\(pid)", "WEXITED|WNOHANG|WNOWAIT"]) { gk_child_ended_unreaped(pid) } == 1
    }

    /// waitpid(2), blocking until that child ends.
    public static func wait(_ pid: pid_t) throws(SysError) -> WaitStatus {
        var status: Int32 = 0
        try sys("waitpid", ["\(pid)", "0"]) { Glibc.waitpid(pid, &status, 0) }
        return WaitStatus(raw: status)
    }

    public static func newSession() throws(SysError) -> pid_t {
        try sys("setsid", []) { Glibc.setsid() }
    }

    /// PR_SET_CHILD_SUBREAPER: orphans of our descendants are re-parented to us instead of PID 1.
    public static func becomeSubreaper() throws(SysError) {
        try sys("prctl", ["PR_SET_CHILD_SUBREAPER", "1"]) { gk_prctl_subreaper() }
    }

    /// reboot(2). Only ever call this as PID 1: it ends the machine (or, in a PID namespace, the namespace).
    public static func reboot(_ command: RebootCommand) throws(SysError) {
        try sys("reboot", ["\(command)"]) { CGuestShim.reboot(command.raw) }
    }

    public static func setHostname(_ name: String) throws(SysError) {
        try sys("sethostname", [name]) { Glibc.sethostname(name, name.utf8.count) }
    }

    public static func hostname() throws(SysError) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        try sys("gethostname", []) { buffer.withUnsafeMutableBytes { Glibc.gethostname($0.baseAddress!.assumingMemoryBound(to: CChar.self), 255) } }
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// uname(2) fields.
    public static func kernel() throws(SysError) -> (sysname: String, release: String, version: String, machine: String) {
        var u = utsname()
        try sys("uname", []) { Glibc.uname(&u) }
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        return (field(u.sysname), field(u.release), field(u.version), field(u.machine))
    }

    /// Sets a resource limit (setrlimit(2)).
    public static func setLimit(_ resource: Int32, soft: UInt64, hard: UInt64) throws(SysError) {
        var limit = rlimit(rlim_cur: rlim_t(soft), rlim_max: rlim_t(hard))
        try sys("setrlimit", ["\(resource)", "\(soft)", "\(hard)"]) {
            Glibc.setrlimit(__rlimit_resource_t(UInt32(resource)), &limit)
        }
    }

    public static func limit(_ resource: Int32) throws(SysError) -> (soft: UInt64, hard: UInt64) {
        var limit = rlimit()
        try sys("getrlimit", ["\(resource)"]) { Glibc.getrlimit(__rlimit_resource_t(UInt32(resource)), &limit) }
        return (UInt64(limit.rlim_cur), UInt64(limit.rlim_max))
    }

    /// Raises the soft open-file limit to the hard one: servers holding many pipes need it.
    public static func raiseOpenFileLimit() {
        if let current = try? limit(Int32(RLIMIT_NOFILE.rawValue)), current.soft < current.hard {
            try? setLimit(Int32(RLIMIT_NOFILE.rawValue), soft: current.hard, hard: current.hard)
        }
    }

    /// prlimit(2) on another process (the parent sets a container's limits: inside a new user namespace
    /// the container could not raise its own).
    public static func setLimit(of pid: pid_t, _ resource: Int32, soft: UInt64, hard: UInt64) throws(SysError) {
        try sys("prlimit", ["\(pid)", "\(resource)", "\(soft)", "\(hard)"]) { gk_prlimit(pid, resource, soft, hard) }
    }

    /// umask(2); returns the previous mask.
    @discardableResult
    public static func setUmask(_ mask: mode_t) -> mode_t { Glibc.umask(mask) }

    public static func setDomainname(_ name: String) throws(SysError) {
        try sys("setdomainname", [name]) { gk_setdomainname(name, name.utf8.count) }
    }

    /// personality(2), e.g. PER_LINUX32 (8).
    public static func setPersonality(_ persona: UInt) throws(SysError) {
        try sys("personality", ["0x" + String(persona, radix: 16)]) { gk_personality(persona) }
    }

    /// ioprio_set(IOPRIO_WHO_PROCESS, 0, class << 13 | level) for the calling process.
    public static func setIOPriority(class ioClass: Int32, level: Int32) throws(SysError) {
        try sys("ioprio_set", ["\(ioClass)", "\(level)"]) { gk_ioprio_set(1, 0, ioClass << 13 | level) }
    }

    /// getcwd(3); nil when the working directory is unreachable from the root (getcwd's ENOENT).
    public static func workingDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        guard getcwd(&buffer, 4096) != nil else { return nil }
        return decodeCString(buffer)
    }

    /// Marks every descriptor from `first` up close-on-exec (close_range CLOSE_RANGE_CLOEXEC).
    public static func closeOnExec(from first: Int32) throws(SysError) {
        try sys("close_range", ["\(first)", "~0", "CLOSE_RANGE_CLOEXEC"]) { gk_close_range_cloexec(UInt32(first)) }
    }

    /// execve(2). Returns only by throwing.
    public static func execute(_ path: String, arguments: [String], environment: [String]) throws(SysError) -> Never {
        let code: Int32 = withCStrings(arguments) { argv in
            withCStrings(environment) { envp in
                _ = Glibc.execve(path, argv, envp)
                return errno
            }
        }
        throw SysError("execve", [path], code: code)
    }

    /// _exit(2): leaves without running atexit handlers or flushing stdio.
    public static func exitImmediately(_ code: Int32) -> Never { Glibc._exit(code) }
}

/// OCI's rlimit names and the RLIMIT_* numbers of <asm-generic/resource.h>.
public enum ResourceLimitNames {
    public static let numbers: [String: Int32] = [
        "CPU": 0, "FSIZE": 1, "DATA": 2, "STACK": 3, "CORE": 4, "RSS": 5, "NPROC": 6, "NOFILE": 7,
        "MEMLOCK": 8, "AS": 9, "LOCKS": 10, "SIGPENDING": 11, "MSGQUEUE": 12, "NICE": 13, "RTPRIO": 14,
        "RTTIME": 15,
    ]

    /// "RLIMIT_NOFILE", "NOFILE" or "nofile" → 7.
    public static func number(_ name: String) -> Int32? {
        var key = name.uppercased()
        if key.hasPrefix("RLIMIT_") { key.removeFirst(7) }
        return numbers[key]
    }
}

/// Clocks. CLOCK_BOOTTIME counts from kernel start, including suspend: the boot timeline's axis.
public enum Clock {
    /// Nanoseconds of CLOCK_BOOTTIME.
    public static var bootTimeNanoseconds: UInt64 { nanoseconds(CLOCK_BOOTTIME) }
    /// Nanoseconds of CLOCK_MONOTONIC.
    public static var monotonicNanoseconds: UInt64 { nanoseconds(CLOCK_MONOTONIC) }
    /// Nanoseconds of CLOCK_REALTIME since the epoch.
    public static var wallNanoseconds: UInt64 { nanoseconds(CLOCK_REALTIME) }

    /// CLOCK_MONOTONIC `milliseconds` from now, saturating at `UInt64.max` rather than trapping when a
    /// huge interval (from a command line, a request) overflows.
    public static func monotonicDeadline(afterMilliseconds milliseconds: UInt64) -> UInt64 {
        let (interval, overflow) = milliseconds.multipliedReportingOverflow(by: 1_000_000)
        let (deadline, carry) = monotonicNanoseconds.addingReportingOverflow(interval)
        return overflow || carry ? .max : deadline
    }

    private static func nanoseconds(_ clock: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Sleeps, resuming after signals until the whole interval has passed.
    public static func sleep(nanoseconds: UInt64) {
        var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
    }
}
