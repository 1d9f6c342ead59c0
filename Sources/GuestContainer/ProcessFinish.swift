#if canImport(Glibc)
import Glibc
#endif
import GuestSys

/// The last steps before a container process execs, shared by the init and exec inits in runc's order
/// (finalizeNamespace and setupUser): working directory, bounding set, identity with capabilities kept
/// across it, then the capability sets; and the program looked up in the container's PATH.
struct ProcessFinish {
    let process: ProcessSpec
    /// The sets to apply: the process's own, else (an exec without them) the container's, else none.
    let capabilities: CapabilitySets

    func finalize() throws(ContainerError) {
        // Every descriptor past stdio must stay out of the program.
        try? Processes.closeOnExec(from: 3)
        var chdirLater = false
        do throws(SysError) {
            try FileSystem.changeDirectory(process.cwd)
        } catch where error.code == Errno.EACCES || error.code == Errno.EPERM {
            chdirLater = true  // the container's user may be allowed where root-in-namespace is not
        } catch {
            throw ContainerError.step("chdir to \(process.cwd) (process.cwd)", error)
        }
        try Capability.applyBounding(capabilities)
        do throws(SysError) { try Credentials.setKeepCapabilities(true) } catch {
            throw ContainerError.step("keep capabilities across the user change", error)
        }
        try setUser()
        if chdirLater {
            do throws(SysError) { try FileSystem.changeDirectory(process.cwd) } catch {
                throw ContainerError.step("chdir to \(process.cwd) (process.cwd) as uid \(process.user.uid)", error)
            }
        }
        guard let cwd = Processes.workingDirectory(), cwd.hasPrefix("/") else {
            throw ContainerError.failed("the working directory is outside the container's root")
        }
        do throws(SysError) { try Credentials.setKeepCapabilities(false) } catch {
            throw ContainerError.step("clear keep-capabilities", error)
        }
        try Capability.applySets(capabilities)
    }

    /// runc's setupUser for "uid:gid": stdio handed to the user, supplementary groups (unless the user
    /// namespace denies setgroups), gid, uid.
    func setUser() throws(ContainerError) {
        let user = process.user
        fixStdioOwner(uid: user.uid)
        let setgroups = (try? FileSystem.readText("/proc/self/setgroups"))?.filter { !$0.isWhitespace } ?? "allow"
        do throws(SysError) {
            if setgroups != "deny" { try Credentials.setGroups(user.additionalGids) }
            try Credentials.setGroupID(user.gid)
            try Credentials.setUserID(user.uid)
        } catch {
            throw ContainerError.step("set the user to \(user.uid):\(user.gid)", error)
        }
    }

    /// The terminal (or pipes) on fd 0-2 become the user's, unless they are /dev/null (runc's
    /// fixStdioPermissions; refusals are ignored there too).
    func fixStdioOwner(uid: UInt32) {
        let nullDevice = (try? FileSystem.status("/dev/null"))?.rdev
        for number in 0...2 {
            let fd = FileDescriptor(rawValue: Int32(number))
            guard let st = try? fd.status(), st.uid != uid, st.rdev != nullDevice || !st.isCharacterDevice else { continue }
            try? fd.changeOwner(uid: uid, gid: st.gid)
        }
    }

    /// The environment the program gets: the spec's, with HOME from the container's /etc/passwd (or "/")
    /// when the spec has none.
    static func environment(_ process: ProcessSpec) -> [String] {
        var env = process.env
        if !env.contains(where: { $0.hasPrefix("HOME=") }) {
            env.append("HOME=" + (PasswdFile.home(uid: process.user.uid) ?? "/"))
        }
        return env
    }

    /// args[0] resolved like Go's exec.LookPath with the container's PATH (runc checks it before Start,
    /// so a missing program is a create-time error).
    static func program(_ process: ProcessSpec, environment: [String]) throws(ContainerError) -> String {
        guard let name = process.args.first, !name.isEmpty else {
            throw ContainerError.invalidSpec(SpecError(process.path.appending("args"), "is empty: args[0] names the program"))
        }
        let path = environment.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? ""
        if name.contains("/") {
            guard FileSystem.exists(name) else { throw ContainerError.failed("exec \(name): no such file in the container") }
            guard Spawner.resolve(name, path: "") != nil else { throw ContainerError.failed("exec \(name): not executable (permission denied)") }
            return name
        }
        guard !path.isEmpty, let found = Spawner.resolve(name, path: path) else {
            throw ContainerError.failed("exec \(name): executable file not found in $PATH (\(path.isEmpty ? "PATH is not set" : path))")
        }
        return found
    }

    /// Opens a pty in the container's own devpts (/dev/ptmx links into it), sized as the spec says, makes
    /// its terminal fd 0-2 and the controlling terminal. With `bindConsole` (the init) the terminal is also
    /// bound over /dev/console, as runc does. Returns the controller for the parent.
    static func terminal(size: WindowSize?, bindConsole: Bool) throws(ContainerError) -> FileDescriptor {
        let pty: PseudoTerminal
        do throws(SysError) { pty = try PseudoTerminal(size: size) } catch {
            throw ContainerError.step("open a pty on /dev/ptmx in the container", error)
        }
        do throws(SysError) {
            if bindConsole {
                if !FileSystem.exists("/dev/console") { try FileSystem.writeFile("/dev/console", [UInt8](), mode: 0o600) }
                try Mounts.mount(source: pty.name, target: "/dev/console", type: nil, flags: .bind)
            }
            for number in 0...2 { try pty.terminal.duplicate(as: FileDescriptor(rawValue: Int32(number))) }
            pty.terminal.closeQuietly()
            try Terminals.setControlling(FileDescriptor.standardInput)
        } catch {
            pty.controller.closeQuietly()
            throw ContainerError.step("make \(pty.name) the container's terminal", error)
        }
        return pty.controller
    }
}

/// The home directory of a uid in the container's /etc/passwd (runc reads it only for HOME).
enum PasswdFile {
    static func home(uid: UInt32, text: String? = nil) -> String? {
        let content = text ?? (try? FileSystem.readText("/etc/passwd")) ?? ""
        for line in content.split(separator: "\n") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            if f.count >= 7, UInt32(f[2]) == uid { return String(f[5]) }
        }
        return nil
    }
}
