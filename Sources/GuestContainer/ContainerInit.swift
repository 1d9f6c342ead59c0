#if canImport(Glibc)
import Glibc
#endif
import GuestJSON
import GuestSys

/// The container's init and the exec init: a re-exec of the GuestKit binary (like `runc init`) that the
/// C stages start inside the container's namespaces with the sync socket on fd 3. It reads its
/// instructions, performs the recipe in runc's order (standard_init_linux.go, rootfs_linux.go), tells
/// the parent "created", waits for "start", and execs the user's program. Any failure goes to the parent
/// as "<step>: <errno>" and ends this process.
public enum ContainerInit {
    /// `guest-agent container-init` and `guest-agent exec-init` land here.
    public static func main() -> Never {
        let channel = InitChannel(FileDescriptor(rawValue: 3))
        try? channel.fd.setCloseOnExec()
        do throws(ContainerError) {
            let (document, mountNamespace) = try channel.receiveInstructions()
            if let mountNamespace {
                // Joined here, not by the C stage: this binary's loader and libraries live in the guest's root.
                do throws(SysError) { try Namespaces.join(mountNamespace, type: NamespaceKind.mount.cloneFlag) } catch {
                    throw ContainerError.step("setns mnt", error)
                }
                mountNamespace.closeQuietly()
            }
            let instructions = try InitInstructions(parsing: document)
            switch instructions.mode {
            case .container: try runContainer(instructions, channel: channel)
            case .exec: try runExec(instructions, channel: channel)
            }
        } catch {
            try? channel.fd.setNonBlocking()
            // Unread messages would turn the parent's read of this report into ECONNRESET.
            while let received = try? channel.receive() { for fd in received.descriptors { fd.closeQuietly() } }
            try? channel.send(.failed(error.report))
        }
        Processes.exitImmediately(1)
    }

    static func spec(_ instructions: InitInstructions) throws(ContainerError) -> RuntimeSpec {
        do throws(SpecError) { return try RuntimeSpec(instructions.spec) } catch { throw ContainerError.invalidSpec(error) }
    }

    /// runc's standard init, step by step.
    static func runContainer(_ instructions: InitInstructions, channel: InitChannel) throws(ContainerError) {
        let spec = try spec(instructions)
        guard let process = spec.process else {
            throw ContainerError.invalidSpec(SpecError(JSONPath([.member("process")]), "is required"))
        }
        let parent = Processes.parentID
        joinSessionKeyring(id: instructions.id, newUserNamespace: spec.linux.namespace(.user).map { $0.path == nil } ?? false)
        if let network = spec.linux.namespace(.network), network.path == nil {
            try? NetworkInterfaces.bringUp("lo")
        }
        let layout = CgroupLayout.detect()
        let mounts = RootfsMounts(spec: spec, rootfs: instructions.rootfs, bundle: instructions.bundle,
                                  cgroup: ContainerCgroup(layout: layout, path: instructions.cgroupPath),
                                  newCgroupNamespace: spec.linux.namespace(.cgroup).map { $0.path == nil } ?? false)
        try mounts.prepareRoot()
        try mounts.mountAll()
        let setupDev = mounts.setsUpDev
        if setupDev {
            let inUserNamespace = spec.linux.namespace(.user) != nil
            let nodes = DeviceNodes(rootfs: instructions.rootfs, devices: spec.linux.devices, bindFromHost: inUserNamespace)
            try nodes.create()
            try nodes.linkPtmx()
            try nodes.linkStandardStreams()
        }
        if instructions.parentHooks {
            try send(channel, .runHooks)
            try waitForHooks(channel)
        }
        do throws(SysError) { try FileSystem.changeDirectory(instructions.rootfs) } catch {
            throw ContainerError.step("chdir to the rootfs \(instructions.rootfs)", error)
        }
        try HookRunner.run(spec.hooks.createContainer, phase: .createContainer,
                           state: state(spec, instructions, status: .creating))
        if RootSwitch.rootIsInitramfs() {
            try RootSwitch.moveAndChroot(into: instructions.rootfs)
        } else {
            try RootSwitch.pivot(into: instructions.rootfs)
        }
        if setupDev { try DeviceNodes.reopenDevNull() }
        do throws(SysError) { try FileSystem.makeDirectories(process.cwd) } catch {
            throw ContainerError.step("create the working directory \(process.cwd)", error)
        }
        var terminal: FileDescriptor?
        if process.terminal { terminal = try ProcessFinish.terminal(size: process.consoleSize, bindConsole: true) }
        try RootfsFinish.finalize(spec)
        do throws(SysError) {
            if let hostname = spec.hostname, !hostname.isEmpty { try Processes.setHostname(hostname) }
            if let domainname = spec.domainname, !domainname.isEmpty { try Processes.setDomainname(domainname) }
        } catch {
            throw ContainerError.step("set the host or domain name", error)
        }
        for (key, value) in spec.linux.sysctl {
            let file = "/proc/sys/" + SpecValidation.dotted(key).replacingDots()
            do throws(SysError) { try FileSystem.writeFile(file, value) } catch {
                throw ContainerError.step("write sysctl \(key)=\(value) to \(file)", error)
            }
        }
        for path in spec.linux.readonlyPaths { try RootfsFinish.makeReadOnly(path) }
        for path in spec.linux.maskedPaths { try RootfsFinish.mask(path) }
        try finishProcess(process, capabilities: process.capabilities ?? CapabilitySets(), spec: spec, channel: channel,
                          terminal: terminal, parent: parent) { () throws(ContainerError) in
            try HookRunner.run(spec.hooks.startContainer, phase: .startContainer, state: state(spec, instructions, status: .created))
        }
    }

    /// runc's setns init: the exec's process in the container's namespaces (joined by the C stages).
    static func runExec(_ instructions: InitInstructions, channel: InitChannel) throws(ContainerError) {
        let spec = try spec(instructions)
        guard let processValue = instructions.process else { throw ContainerError.failed("exec instructions without a process") }
        let process: ProcessSpec
        do throws(SpecError) { process = try ProcessSpec(JSONField(processValue)) } catch { throw ContainerError.invalidSpec(error) }
        joinSessionKeyring(id: instructions.id, newUserNamespace: spec.linux.namespace(.user) != nil)
        var terminal: FileDescriptor?
        if process.terminal { terminal = try ProcessFinish.terminal(size: process.consoleSize, bindConsole: false) }
        Processes.setUmask(mode_t(process.user.umask ?? 0o022))
        let capabilities = process.capabilities ?? spec.process?.capabilities ?? CapabilitySets()
        try finishProcess(process, capabilities: capabilities, spec: spec, channel: channel, terminal: terminal,
                          parent: Processes.parentID) {}
    }

    /// From no_new_privs to execve, shared by both inits. Seccomp goes where runc loads it: before the
    /// capabilities are dropped when no_new_privs is off (loading then needs CAP_SYS_ADMIN), as late as
    /// possible when it is on.
    static func finishProcess(_ process: ProcessSpec, capabilities: CapabilitySets, spec: RuntimeSpec, channel: InitChannel,
                              terminal: FileDescriptor?, parent: Int32, afterStart: () throws(ContainerError) -> Void) throws(ContainerError) {
        if let persona = spec.linux.personality {
            do throws(SysError) { try Processes.setPersonality(persona) } catch { throw ContainerError.step("set the personality", error) }
        }
        if let priority = process.ioPriority {
            do throws(SysError) { try Processes.setIOPriority(class: priority.classNumber, level: priority.priority) } catch {
                throw ContainerError.step("set the I/O priority", error)
            }
        }
        if process.noNewPrivileges {
            do throws(SysError) { try Credentials.setNoNewPrivileges() } catch { throw ContainerError.step("set no_new_privs", error) }
        }
        // runc's procReady: the parent sets the rlimits while this process is still root.
        try send(channel, .ready)
        try waitForHooks(channel)
        let filter = try spec.linux.seccomp.map { s throws(ContainerError) in try SeccompFilter(s) }
        if let filter, !process.noNewPrivileges { try filter.load() }
        try ProcessFinish(process: process, capabilities: capabilities).finalize()
        // The parent that started us is gone: nobody would ever start or reap this container.
        if Processes.parentID != parent { Processes.exitImmediately(1) }
        let environment = ProcessFinish.environment(process)
        let program = try ProcessFinish.program(process, environment: environment)
        if let filter, process.noNewPrivileges { try filter.load() }
        do throws(SysError) {
            try channel.send(.created, descriptors: terminal.map { [$0] } ?? [])
        } catch {
            throw ContainerError.step("tell the parent the container is created", error)
        }
        terminal?.closeQuietly()
        try waitForStart(channel)
        try afterStart()
        do throws(SysError) {
            try Processes.execute(program, arguments: process.args, environment: environment)
        } catch {
            throw ContainerError.step("exec \(program)", error)
        }
    }

    static func state(_ spec: RuntimeSpec, _ instructions: InitInstructions, status: ContainerStatus) -> ContainerState {
        ContainerState(ociVersion: spec.ociVersion, id: instructions.id, status: status, pid: Processes.currentID,
                       bundle: instructions.bundle, annotations: Dictionary(spec.annotations, uniquingKeysWith: { $1 }))
    }

    /// A fresh session keyring "_ses.<id>", searchable as runc makes it; kernels without keyrings skip it.
    static func joinSessionKeyring(id: String, newUserNamespace: Bool) {
        guard let key = try? Keyrings.joinSession("_ses." + id) else { return }
        if let current = try? Keyrings.permissions(key) {
            try? Keyrings.setPermissions(key, current | (newUserNamespace ? 0x8 : 0x80000))
        }
    }

    static func send(_ channel: InitChannel, _ message: InitMessage) throws(ContainerError) {
        do throws(SysError) { try channel.send(message) } catch { throw ContainerError.step("write to the parent", error) }
    }

    static func waitForHooks(_ channel: InitChannel) throws(ContainerError) {
        switch try next(channel) {
        case .resume: return
        case .hooksFailed(let text): throw ContainerError.failed(text)
        default: throw ContainerError.failed("unexpected message while the parent ran hooks")
        }
    }

    static func waitForStart(_ channel: InitChannel) throws(ContainerError) {
        guard case .start = try next(channel) else { throw ContainerError.failed("unexpected message instead of start") }
    }

    /// The next message; the parent closing the socket ends this process quietly (it gave up on us).
    static func next(_ channel: InitChannel) throws(ContainerError) -> InitMessage {
        let received: (message: [UInt8], descriptors: [FileDescriptor])?
        do throws(SysError) { received = try channel.receive() } catch { throw ContainerError.step("read from the parent", error) }
        guard let received else { Processes.exitImmediately(0) }
        for fd in received.descriptors { fd.closeQuietly() }
        guard let message = InitMessage(received.message) else { throw ContainerError.failed("unreadable message from the parent") }
        return message
    }
}

extension String {
    /// "net.ipv4.ip_forward" → "net/ipv4/ip_forward".
    func replacingDots() -> String { String(map { $0 == "." ? "/" : $0 }) }
}
