import GuestSys

/// The descriptors a new process gets for stdio and the agent's ends of them, made before the spawn:
/// a pty (all three streams on it) or a pipe per stream the host will attach, /dev/null for the rest.
/// After the spawn the child's ends are closed here; on a failed spawn everything is.
struct ProcessStdio {
    /// Child descriptor number → the descriptor it becomes.
    private(set) var childDescriptors: [Int32: FileDescriptor] = [:]
    private(set) var stdin = InputEnd.none
    private(set) var stdout = OutputEnd.none
    private(set) var stderr = OutputEnd.none
    /// The pty controller, when the process runs on a terminal.
    private(set) var terminal: FileDescriptor?
    private var childEnds: [FileDescriptor] = []
    private var agentEnds: [FileDescriptor] = []

    init(terminal wantsTerminal: Bool, size: WindowSize?, stdin wantsStdin: Bool, stdout wantsStdout: Bool,
         stderr wantsStderr: Bool, devNull: FileDescriptor) throws(SysError) {
        do throws(SysError) {
            if wantsTerminal {
                let pty = try PseudoTerminal(size: size)
                childEnds.append(pty.terminal)
                agentEnds.append(pty.controller)
                try pty.controller.setNonBlocking()
                terminal = pty.controller
                childDescriptors = [0: pty.terminal, 1: pty.terminal, 2: pty.terminal]
                if wantsStdin {
                    let input = try pty.controller.duplicate()
                    agentEnds.append(input)
                    stdin = .waiting(input)
                }
                // The output end exists even when the host did not ask for it: the router drains it then, so
                // the process cannot block on a full terminal.
                let output = try pty.controller.duplicate()
                agentEnds.append(output)
                stdout = .waiting(output)
            } else {
                childDescriptors = [0: devNull, 1: devNull, 2: devNull]
                if wantsStdin {
                    let pipe = try Pipe()
                    childEnds.append(pipe.readEnd)
                    agentEnds.append(pipe.writeEnd)
                    try pipe.writeEnd.setNonBlocking()
                    childDescriptors[0] = pipe.readEnd
                    stdin = .waiting(pipe.writeEnd)
                }
                for (number, wanted) in [(Int32(1), wantsStdout), (2, wantsStderr)] where wanted {
                    let pipe = try Pipe()
                    childEnds.append(pipe.writeEnd)
                    agentEnds.append(pipe.readEnd)
                    try pipe.readEnd.setNonBlocking()
                    childDescriptors[number] = pipe.writeEnd
                    if number == 1 { stdout = .waiting(pipe.readEnd) } else { stderr = .waiting(pipe.readEnd) }
                }
            }
        } catch {
            abandon()
            throw error
        }
    }

    /// After a successful spawn: the child has its own copies.
    func closeChildEnds() {
        for fd in childEnds { fd.closeQuietly() }
    }

    /// The spawn failed: nothing is kept.
    func abandon() {
        for fd in childEnds { fd.closeQuietly() }
        for fd in agentEnds { fd.closeQuietly() }
    }
}
