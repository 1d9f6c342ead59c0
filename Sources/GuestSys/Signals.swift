#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGuestShim

/// Signal numbers and names (x86_64 and arm64 share them).
public enum Signal {
    public static let hangup: Int32 = 1
    public static let interrupt: Int32 = 2
    public static let quit: Int32 = 3
    public static let kill: Int32 = 9
    public static let user1: Int32 = 10
    public static let user2: Int32 = 12
    public static let pipe: Int32 = 13
    public static let alarm: Int32 = 14
    public static let terminate: Int32 = 15
    public static let child: Int32 = 17
    public static let `continue`: Int32 = 18
    public static let stop: Int32 = 19
    public static let windowChange: Int32 = 28
    public static let power: Int32 = 30

    private static let names: [String] = [
        "0", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL",
        "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT",
        "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF",
        "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
    ]

    /// "SIGTERM" for 15; "SIGRTMIN+3" style for real-time signals.
    public static func name(_ signal: Int32) -> String {
        if signal > 0 && Int(signal) < names.count { return names[Int(signal)] }
        if signal >= 34 && signal <= 64 { return "SIGRTMIN+\(signal - 34)" }
        return "signal \(signal)"
    }

    /// Parses "TERM", "SIGTERM", "term" or "15"; nil when it names no signal.
    public static func number(_ text: String) -> Int32? {
        if let n = Int32(text), n > 0, n <= 64 { return n }
        var upper = text.uppercased()
        if !upper.hasPrefix("SIG") { upper = "SIG" + upper }
        if let index = names.firstIndex(of: upper), index > 0 { return Int32(index) }
        return nil
    }

    /// Sets a signal's disposition to ignore (SIG_IGN), e.g. SIGPIPE in servers that check write errors.
    public static func ignore(_ signal: Int32) {
        Glibc.signal(signal, SIG_IGN)
    }

    /// Restores a signal's default disposition.
    public static func setDefault(_ signal: Int32) {
        Glibc.signal(signal, SIG_DFL)
    }
}

/// A set of signals (sigset_t).
public struct SignalSet: Sendable {
    var raw = sigset_t()

    public init(_ signals: [Int32] = []) {
        sigemptyset(&raw)
        for signal in signals { sigaddset(&raw, signal) }
    }

    public func contains(_ signal: Int32) -> Bool {
        var copy = raw
        return sigismember(&copy, signal) == 1
    }

    /// Blocks these signals for the calling thread (and the threads it creates later).
    public func block() throws(SysError) {
        var set = raw
        try sysReturningCode("pthread_sigmask", ["SIG_BLOCK"]) { pthread_sigmask(SIG_BLOCK, &set, nil) }
    }

    public func unblock() throws(SysError) {
        var set = raw
        try sysReturningCode("pthread_sigmask", ["SIG_UNBLOCK"]) { pthread_sigmask(SIG_UNBLOCK, &set, nil) }
    }
}

/// One signal read from a signalfd.
public struct SignalInfo: Sendable {
    public let signal: Int32
    public let senderPID: pid_t
    public let senderUID: uid_t
}

/// A signalfd: blocked signals become readable events for a poll loop.
public struct SignalDescriptor: Sendable {
    public let fd: FileDescriptor

    /// Blocks `signals` and opens a non-blocking, close-on-exec signalfd for them.
    public init(_ signals: SignalSet) throws(SysError) {
        try signals.block()
        var set = signals.raw
        let raw = try sys("signalfd", ["-1"]) { CGuestShim.signalfd(-1, &set, Int32(SFD_NONBLOCK | SFD_CLOEXEC)) }
        fd = FileDescriptor(rawValue: raw)
    }

    /// Reads every pending signal; empty when none is pending.
    public func readAll() throws(SysError) -> [SignalInfo] {
        var result: [SignalInfo] = []
        var info = signalfd_siginfo()
        let size = MemoryLayout<signalfd_siginfo>.size
        while true {
            let n = Glibc.read(fd.rawValue, &info, size)
            if n == size {
                result.append(SignalInfo(signal: Int32(info.ssi_signo), senderPID: pid_t(info.ssi_pid),
                                         senderUID: info.ssi_uid))
                continue
            }
            if n == -1 && errno == EINTR { continue }
            if n == -1 && errno == EAGAIN { return result }
            throw SysError("read", [fd.description, "signalfd"], code: n == -1 ? errno : EIO)
        }
    }
}
