#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGuestShim

/// Who a spawned process runs as.
public struct ProcessIdentity: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var groups: [UInt32]
    public init(uid: UInt32, gid: UInt32, groups: [UInt32] = []) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }
}

/// One resource limit for a spawned process (RLIMIT_* number, soft and hard values).
public struct ResourceLimit: Sendable, Equatable {
    public var resource: Int32
    public var soft: UInt64
    public var hard: UInt64
    public init(resource: Int32, soft: UInt64, hard: UInt64) {
        self.resource = resource
        self.soft = soft
        self.hard = hard
    }
}

/// Everything needed to start a program. The child gets exactly the descriptors in `descriptors`.
public struct SpawnRequest: Sendable {
    /// Absolute path of the program (resolve PATH before spawning, so a missing binary is named).
    public var path: String
    public var arguments: [String]
    public var environment: [String]
    public var workingDirectory: String?
    /// Child descriptor number → the parent's descriptor that becomes it.
    public var descriptors: [Int32: FileDescriptor]
    public var newSession = false
    public var newProcessGroup = false
    /// With `newSession`: make descriptor 0 (a terminal) the controlling terminal.
    public var controllingTerminal = false
    public var identity: ProcessIdentity?
    public var limits: [ResourceLimit] = []
    /// PR_SET_PDEATHSIG: the signal the child gets when the *thread* that spawned it ends (so spawn
    /// from a thread that lives as long as the process). nil: none.
    public var parentDeathSignal: Int32?
    /// An open `cgroup.procs` (write-only) of the cgroup the child moves itself into before it runs anything;
    /// nil: it stays in its parent's.
    public var cgroupProcs: FileDescriptor?

    public init(path: String, arguments: [String], environment: [String] = [], workingDirectory: String? = nil,
                descriptors: [Int32: FileDescriptor] = [:]) {
        self.path = path
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.descriptors = descriptors
    }
}

/// A program that could not be started: the step in the child that failed and its errno.
public struct SpawnError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let step: String
    public let code: Int32

    public var description: String {
        "cannot start \(path): \(step) failed: \(Errno.name(code)) (\(Errno.message(code)))"
    }
}

/// Starting child processes: a CLONE_VM clone that runs raw system calls up to execve (C, see
/// `gk_spawn_start`), so nothing of the caller's address space is copied, and a child stuck before exec
/// (a cwd on a hung filesystem) holds only itself.
public enum Spawner {
    /// Starts the program and returns its pid once exec has succeeded (waiting for it).
    public static func spawn(_ request: SpawnRequest) throws(SpawnError) -> pid_t {
        var step = [CChar](repeating: 0, count: 64)
        let pid = withAttributes(request) { attr in gk_spawn(&attr, &step, 64) }
        if pid == -1 {
            throw SpawnError(path: request.path, step: decodeCString(step), code: errno)
        }
        return pid
    }

    /// Starts the program and returns at once: the outcome comes later from `SpawnInProgress.collect`,
    /// when its report descriptor is readable.
    public static func start(_ request: SpawnRequest) throws(SpawnError) -> SpawnInProgress {
        var handle = gk_spawn_handle()
        let rc = withAttributes(request) { attr in gk_spawn_start(&attr, &handle) }
        if rc != 0 { throw SpawnError(path: request.path, step: "clone", code: errno) }
        return SpawnInProgress(handle: handle, path: request.path)
    }

    /// The request as a `gk_spawn_attr`, valid inside `body` (the C side copies what the child reads).
    private static func withAttributes<R>(_ request: SpawnRequest, _ body: (inout gk_spawn_attr) -> R) -> R {
        var fdMap: [Int32] = []
        for (target, source) in request.descriptors.sorted(by: { $0.key < $1.key }) {
            fdMap.append(source.rawValue)
            fdMap.append(target)
        }
        let limits = request.limits.map { gk_rlimit(resource: $0.resource, soft: $0.soft, hard: $0.hard) }
        let groups = request.identity?.groups ?? []
        return withCStrings(request.arguments) { argv in
            withCStrings(request.environment) { envp in
                request.path.withCString { path in
                    withOptionalCString(request.workingDirectory) { cwd in
                        fdMap.withUnsafeBufferPointer { map in
                            groups.withUnsafeBufferPointer { groupBuffer in
                                limits.withUnsafeBufferPointer { limitBuffer in
                                    var attr = gk_spawn_attr()
                                    attr.path = path
                                    attr.argv = argv
                                    attr.envp = envp
                                    attr.cwd = cwd
                                    attr.fd_map = map.baseAddress
                                    attr.fd_map_count = Int32(map.count / 2)
                                    attr.new_session = request.newSession ? 1 : 0
                                    attr.new_process_group = request.newProcessGroup ? 1 : 0
                                    attr.controlling_tty = request.controllingTerminal ? 1 : 0
                                    if let identity = request.identity {
                                        attr.set_user = 1
                                        attr.uid = identity.uid
                                        attr.gid = identity.gid
                                        attr.groups = groupBuffer.baseAddress
                                        attr.group_count = Int32(groupBuffer.count)
                                    }
                                    attr.rlimits = limitBuffer.baseAddress
                                    attr.rlimit_count = Int32(limitBuffer.count)
                                    if let signal = request.parentDeathSignal {
                                        attr.parent_death_signal = signal
                                        attr.parent_pid = getpid()
                                    }
                                    if let cgroupProcs = request.cgroupProcs {
                                        attr.join_cgroup = 1
                                        attr.cgroup_procs_fd = cgroupProcs.rawValue
                                    }
                                    return body(&attr)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Finds a program the way execvp does: a name with a slash is taken as is, otherwise each PATH entry
    /// is tried. Returns nil when no executable file is found.
    public static func resolve(_ program: String, path searchPath: String) -> String? {
        if program.contains("/") { return access(program, X_OK) == 0 ? program : nil }
        for directory in searchPath.split(separator: ":", omittingEmptySubsequences: false) {
            let base = directory.isEmpty ? "." : String(directory)
            let candidate = base + "/" + program
            var st = stat()
            if stat(candidate, &st) == 0, st.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }
}

/// A child `Spawner.start` started, until its report (a close-on-exec pipe) says whether it exec'd. Watch
/// `reportDescriptor` for readable and call `collect`.
public final class SpawnInProgress {
    public let pid: pid_t
    public let path: String
    // The C handle owns the child's stack and its copy of the attributes: released only once the report
    // has ended, i.e. the child no longer runs on them.
    private var handle: gk_spawn_handle
    private var outcome: Result<Void, SpawnError>?

    init(handle: gk_spawn_handle, path: String) {
        self.handle = handle
        self.pid = handle.pid
        self.path = path
    }

    /// The read end of the report pipe (non-blocking), open until `release`.
    public var reportDescriptor: FileDescriptor { FileDescriptor(rawValue: handle.report_fd) }

    /// nil while the child has neither exec'd nor failed; then `.success` (it runs the program) or the
    /// step that failed (it exits 127: reap it as usual). Once known, stop watching `reportDescriptor` and
    /// call `release`.
    public func collect() -> Result<Void, SpawnError>? {
        if let outcome { return outcome }
        let rc = gk_spawn_collect(&handle)
        if rc < 0 { return nil }
        if rc == 1 {
            let step = withUnsafeBytes(of: handle.step) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            outcome = .failure(SpawnError(path: path, step: step, code: handle.error))
        } else {
            outcome = .success(())
        }
        return outcome
    }

    /// After `collect` gave the outcome: closes the report pipe and frees the child's stack. Close only
    /// after taking the descriptor out of any epoll set: other children still starting hold copies of it,
    /// so closing first would leave its registration behind, firing for whatever reuses the number.
    public func release() {
        guard outcome != nil, !released else { return }
        released = true
        gk_spawn_release(&handle)
    }

    private var released = false

    // Not collected: the child may still run on the region, so it stays mapped (a leak of 64 KiB and
    // change, only when the owner gives up on a child that is stuck before exec).
    deinit {
        if outcome != nil { release() } else if handle.report_fd >= 0 { _ = Glibc.close(handle.report_fd) }
    }
}

/// Calls `body` with a NULL-terminated C array of the strings; valid only inside `body`.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}
