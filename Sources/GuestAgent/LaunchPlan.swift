import GuestProto
import GuestSys

/// A StartProcess request checked and resolved into what `Spawner` needs: the program's absolute path
/// (PATH searched here, so a missing binary is named at once), the final environment, the identity and
/// resource limits. Pure: it opens nothing, so every rule is testable without starting a process.
struct LaunchPlan: Equatable {
    static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    var program: String
    var arguments: [String]
    var environment: [String]
    var workingDirectory: String
    var identity: ProcessIdentity?
    var limits: [ResourceLimit]
    var terminal: Bool
    var terminalSize: WindowSize?
    var stdin: Bool
    var stdout: Bool
    var stderr: Bool

    /// - Parameter resolveProgram: PATH lookup (`Spawner.resolve` in the agent): name or path, search path
    ///   → absolute path, nil when nothing executable is there.
    init(_ request: Guestkit_V1_StartProcessRequest, accounts: () -> AccountDatabase,
         resolveProgram: (String, String) -> String?, fileExists: (String) -> Bool) throws(AgentError) {
        guard request.containerID.isEmpty else {
            throw .invalidRequest("StartProcess starts guest processes; use ExecProcess to run one in container \"\(request.containerID)\"")
        }
        guard let name = request.args.first, !name.isEmpty else {
            throw .invalidRequest("args is empty: args[0] must name the program to run")
        }
        if request.terminal && request.stderr {
            throw .invalidRequest("stderr=true with terminal=true: a terminal merges stderr into its output (stdout)")
        }
        for entry in request.env where !entry.contains("=") || entry.hasPrefix("=") {
            throw .invalidRequest("environment entry \"\(entry)\" is not KEY=VALUE")
        }
        let cwd = request.cwd.isEmpty ? "/" : request.cwd
        // Relative to what? The agent's own directory is nobody's business (and OCI requires absolute).
        guard cwd.hasPrefix("/") else { throw .invalidRequest("cwd \"\(cwd)\" is not an absolute path") }

        var user: ResolvedUser?
        if request.hasUser {
            let u = request.user
            if !u.spec.isEmpty {
                if u.uid != 0 || u.gid != 0 || !u.additionalGids.isEmpty {
                    throw .invalidRequest("user has both spec \"\(u.spec)\" and numeric ids; give one or the other")
                }
                user = try accounts().resolve(spec: u.spec)
            } else {
                user = ResolvedUser(identity: ProcessIdentity(uid: u.uid, gid: u.gid, groups: u.additionalGids),
                                    home: accounts().user(uid: u.uid)?.home)
            }
        }

        var environment = request.env
        func has(_ key: String) -> Bool { environment.contains { $0.hasPrefix(key + "=") } }
        let searchPath = environment.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? Self.defaultPath
        if !has("PATH") { environment.append("PATH=" + Self.defaultPath) }
        if !has("HOME") { environment.append("HOME=" + (user?.home ?? (user == nil ? "/root" : "/"))) }
        if request.terminal && !has("TERM") { environment.append("TERM=xterm") }

        if name.contains("/") {
            // A relative path is relative to the process's working directory, where execve will look.
            var relative = Substring(name)
            while relative.hasPrefix("./") { relative = relative.dropFirst(2) }
            let full = name.hasPrefix("/") ? name : (cwd.hasSuffix("/") ? cwd : cwd + "/") + relative
            guard fileExists(full) else { throw .programNotFound(program: full, searched: nil) }
            guard resolveProgram(full, searchPath) != nil else { throw .programNotExecutable(full) }
            program = name.hasPrefix("/") ? name : full
        } else {
            guard let found = resolveProgram(name, searchPath) else {
                throw .programNotFound(program: name, searched: searchPath)
            }
            program = found
        }

        arguments = request.args
        self.environment = environment
        workingDirectory = cwd
        identity = user?.identity
        limits = try request.rlimits.map { limit throws(AgentError) in try ResourceLimitName.limit(limit) }
        terminal = request.terminal
        if request.hasTerminalSize {
            let size = request.terminalSize
            guard size.rows <= UInt16.max, size.columns <= UInt16.max else {
                throw .invalidRequest("terminal size \(size.rows)x\(size.columns) is too large")
            }
            terminalSize = WindowSize(rows: UInt16(size.rows), columns: UInt16(size.columns))
        }
        stdin = request.stdin
        stdout = request.stdout
        stderr = request.stderr
    }
}

/// StartProcess rlimits: OCI's names (GuestSys' `ResourceLimitNames`) with their soft and hard values.
enum ResourceLimitName {
    static func number(_ name: String) -> Int32? { ResourceLimitNames.number(name) }

    static func limit(_ limit: Guestkit_V1_Rlimit) throws(AgentError) -> ResourceLimit {
        guard let resource = number(limit.type) else {
            throw .invalidRequest("unknown rlimit \"\(limit.type)\"; use RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_CORE, …")
        }
        guard limit.soft <= limit.hard else {
            throw .invalidRequest("rlimit \(limit.type): soft limit \(limit.soft) is above hard limit \(limit.hard)")
        }
        return ResourceLimit(resource: resource, soft: limit.soft, hard: limit.hard)
    }
}
