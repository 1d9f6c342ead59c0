// guestctl: talk to a guest's agent from the host. Argument parsing here; the work is in GuestClient.
import ArgumentParser
import Foundation
import GuestClient
import GuestProto
import GuestSys

/// Where the agent is; every subcommand takes it.
struct AgentOption: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp(
        "Agent address: vsock://CID:PORT, hybrid:///path/to/vmm.sock:PORT or unix:///path (default: $GUESTKIT_AGENT).",
        valueName: "url"))
    var agent: String?
    @Option(help: ArgumentHelp("Seconds each call may wait for the agent's answer (wait: on top of its own timeout).",
                               valueName: "seconds"))
    var callTimeout: Double = Double(GuestClient.defaultCallTimeout.components.seconds)

    func validate() throws {
        guard callTimeout > 0, callTimeout <= 86_400 else { throw ValidationError("--call-timeout must be 0 < seconds <= 86400") }
    }

    func connect() throws -> GuestClient {
        guard let text = agent ?? ProcessInfo.processInfo.environment["GUESTKIT_AGENT"] else {
            throw ValidationError("no agent address: pass --agent URL or set GUESTKIT_AGENT")
        }
        return try GuestClient(text, callTimeout: .milliseconds(Int(callTimeout * 1000)))
    }
}

/// guestctl's own failures exit 125 (as docker exec does); a program the agent cannot find 127, one it
/// may not run 126. The remote program's own code passes through unchanged.
func fail(_ error: Error) -> ExitCode {
    FileHandle.standardError.write(Data("guestctl: \(error)\n".utf8))
    if let error = error as? GuestClientError {
        switch error.statusCode {
        case .notFound?: return ExitCode(127)
        case .permissionDenied?: return ExitCode(126)
        default: break
        }
    }
    return ExitCode(125)
}

@main
struct GuestCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guestctl",
        abstract: "Run and manage processes in a GuestKit guest through its agent.",
        subcommands: [Exec.self, Run.self, Container.self, Info.self, Ps.self, Kill.self, Wait.self, Shutdown.self])
}

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command in the guest; exits with its exit code (128+N when killed by signal N).")

    @OptionGroup var agent: AgentOption
    @Flag(name: .shortAndLong, help: "Run on a terminal (local terminal in raw mode, size changes forwarded).")
    var tty = false
    @Flag(name: .shortAndLong, help: "Send local stdin to the command.")
    var interactive = false
    @Option(name: .shortAndLong, help: ArgumentHelp("Environment variable for the command (repeatable).", valueName: "K=V"))
    var env: [String] = []
    @Option(name: .shortAndLong, help: ArgumentHelp("User in the guest: name, uid, name:group or uid:gid.", valueName: "user"))
    var user: String?
    @Option(name: [.customShort("w"), .long], help: ArgumentHelp("Working directory in the guest.", valueName: "dir"))
    var workdir: String?
    @Option(help: "Process id to use (the agent picks one otherwise).")
    var id: String?
    @Flag(name: .shortAndLong, help: "Start the command, print its id and return (no stdio).")
    var detach = false
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).")
    var command: [String] = []

    mutating func validate() throws {
        if command.first == "--" { command.removeFirst() }
        guard !command.isEmpty else { throw ValidationError("name the command to run: guestctl exec [options] -- CMD ARGS…") }
        for entry in env where !entry.contains("=") {
            throw ValidationError("-e \(entry): expected K=V")
        }
    }

    func run() throws {
        Signal.ignore(Signal.pipe)  // a closed local stdout ends the copy, not guestctl
        var request = Guestkit_V1_StartProcessRequest()
        request.args = command
        request.env = env
        request.cwd = workdir ?? ""
        if let id { request.id = id }
        if let user { request.user.spec = user }
        let client: GuestClient
        do { client = try agent.connect() } catch let error as ValidationError { throw error } catch { throw fail(error) }
        if detach {
            do {
                let started = try client.startProcess(request)
                print(started.id)
                return
            } catch {
                throw fail(error)
            }
        }
        let terminal = tty ? LocalTerminal(.standardInput) : nil
        if let terminal {
            request.terminal = true
            if let size = terminal.size ?? (try? Terminals.size(.standardOutput)) {
                request.terminalSize.rows = UInt32(size.rows)
                request.terminalSize.columns = UInt32(size.columns)
            }
            if interactive && FileDescriptor.standardInput.isTerminal { try? terminal.enterRawMode() }
        }
        defer { terminal?.restore() }
        let run = ProcessRun(request: request, stdin: interactive ? .standardInput : nil, stdout: .standardOutput,
                             stderr: tty ? nil : .standardError)
        let status: ProcessExit
        do {
            status = try run.run(on: client) { started in
                terminal?.watchResizes { size in
                    try? client.resizeTerminal(started.id, rows: size.rows, columns: size.columns)
                }
            }
        } catch {
            terminal?.restore()
            throw fail(error)
        }
        terminal?.restore()
        if status.signal != 0 {
            FileHandle.standardError.write(Data("guestctl: remote process \(status)\n".utf8))
        }
        throw ExitCode(status.shellCode)
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the agent's view of the guest: versions, boot timeline, memory.")
    @OptionGroup var agent: AgentOption

    func run() throws {
        let info: Guestkit_V1_GetInfoResponse
        do { info = try agent.connect().info() } catch let error as ValidationError { throw error } catch { throw fail(error) }
        print("agent version   \(info.agentVersion)")
        print("init version    \(info.initVersion.isEmpty ? "-" : info.initVersion)")
        print("kernel          \(info.kernelRelease)")
        print("uptime          \(milliseconds(info.uptimeNs)) ms")
        print("memory          \(info.memory.totalBytes >> 20) MiB total, \(info.memory.availableBytes >> 20) MiB available")
        print("agent memory    \(info.memory.agentPrivateDirtyBytes >> 10) KiB private dirty, \(info.agentOpenDescriptors) open descriptors")
        if info.hasRoot {
            print("root            \(info.root.source) \(info.root.type)\(info.root.dax ? " dax" : "") overlay=\(info.root.overlay)")
        }
        print("processes       \(info.processCount)")
        print("features        \(info.features.joined(separator: " "))")
        if !info.bootTimelineError.isEmpty { print("boot timeline   \(info.bootTimelineError)") }
        for stage in info.bootStages {
            print("  \(stage.name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(milliseconds(stage.boottimeNs)) ms")
        }
    }

    func milliseconds(_ ns: UInt64) -> String {
        let tenths = ns / 100_000
        return "\(tenths / 10).\(tenths % 10)"
    }
}

struct Ps: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the processes the agent started.")
    @OptionGroup var agent: AgentOption

    func run() throws {
        let processes: [Guestkit_V1_ProcessEntry]
        do { processes = try agent.connect().listProcesses() } catch let error as ValidationError { throw error } catch { throw fail(error) }
        print("ID".padding(toLength: 14, withPad: " ", startingAt: 0) + "PID".padding(toLength: 8, withPad: " ", startingAt: 0)
              + "STATE".padding(toLength: 22, withPad: " ", startingAt: 0) + "COMMAND")
        for p in processes {
            let state: String
            switch p.state {
            case .exited: state = p.signal != 0 ? "killed (\(Signal.name(p.signal)))" : "exited (\(p.exitCode))"
            default: state = p.terminal ? "running (tty)" : "running"
            }
            print(p.id.padding(toLength: 14, withPad: " ", startingAt: 0) + "\(p.pid)".padding(toLength: 8, withPad: " ", startingAt: 0)
                  + state.padding(toLength: 22, withPad: " ", startingAt: 0) + p.args.joined(separator: " "))
        }
    }
}

struct Kill: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send a signal (default TERM) to a process.")
    @OptionGroup var agent: AgentOption
    @Flag(name: .shortAndLong, help: "Signal the whole process group.")
    var group = false
    @Argument(help: "Process id.") var id: String
    @Argument(help: "Signal name or number (TERM, SIGKILL, 9…).") var signal: String = "TERM"

    func run() throws {
        guard let number = Signal.number(signal) else { throw ValidationError("\(signal) is not a signal name or number") }
        do { try agent.connect().signal(id, number, processGroup: group) } catch let error as ValidationError { throw error } catch { throw fail(error) }
    }
}

struct Wait: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Wait for a process and exit with its exit code.")
    @OptionGroup var agent: AgentOption
    @Argument(help: "Process id.") var id: String

    func run() throws {
        let status: ProcessExit
        do { status = try agent.connect().wait(id) } catch let error as ValidationError { throw error } catch { throw fail(error) }
        print("\(id) \(status)")
        throw ExitCode(status.shellCode)
    }
}

struct Shutdown: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Power the guest off (or reboot it), carried out by guest-init.")
    @OptionGroup var agent: AgentOption
    @Flag(help: "Reboot instead of powering off.") var reboot = false

    func run() throws {
        do { try agent.connect().shutdown(reboot: reboot) } catch let error as ValidationError { throw error } catch { throw fail(error) }
    }
}
