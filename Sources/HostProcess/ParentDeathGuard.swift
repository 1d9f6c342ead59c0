// PR_SET_PDEATHSIG reaches only the child itself, not what it started: a SIGKILLed `make` leaves its
// compilers and sub-makes running. The guard covers the rest of each group. It is a small /bin/sh loop
// in a session of its own, ignoring the signals a terminal or a group kill would send, that reads
// "+PGID" and "-PGID" lines from a socket whose other end only this process holds. When this process
// dies, however it dies, the kernel closes that end; the guard reads end of file, SIGKILLs every group
// still registered, and exits. A socket rather than a pipe so a vanished guard is an error here
// (MSG_NOSIGNAL), not a SIGPIPE.
import Glibc
import GuestSys

final class ParentDeathGuard {
    let pid: pid_t
    private let channel: FileDescriptor

    static let script = """
        trap '' INT TERM HUP QUIT PIPE
        groups=' '
        while read -r op id; do
          case $op in
            +) groups="$groups$id " ;;
            -) kept=' '; for g in $groups; do [ "$g" = "$id" ] || kept="$kept$g "; done; groups=$kept ;;
          esac
        done
        for g in $groups; do kill -KILL "-$g" 2>/dev/null; done
        """

    private init(pid: pid_t, channel: FileDescriptor) {
        self.pid = pid
        self.channel = channel
    }

    /// Starts a guard (on the spawner thread, without a death signal of its own: it must outlive us).
    static func start() -> ParentDeathGuard? {
        guard let (mine, theirs) = try? Sockets.pair() else { return nil }
        defer { theirs.closeQuietly() }
        guard let null = try? FileDescriptor.open("/dev/null", .readWrite) else {
            mine.closeQuietly()
            return nil
        }
        defer { null.closeQuietly() }
        var request = SpawnRequest(path: "/bin/sh", arguments: ["guestkit-parent-death-guard", "-c", script],
                                   environment: ["PATH=/usr/bin:/bin"], descriptors: [0: theirs, 1: null, 2: null])
        request.newSession = true
        guard let pid = try? Spawner.spawn(request) else {
            mine.closeQuietly()
            return nil
        }
        return ParentDeathGuard(pid: pid, channel: mine)
    }

    /// false when the guard is gone.
    func register(_ group: pid_t) -> Bool { send("+ \(group)\n") }

    func unregister(_ group: pid_t) { _ = send("- \(group)\n") }

    private func send(_ line: String) -> Bool {
        (try? Sockets.sendAll(channel, Array(line.utf8))) != nil
    }
}
