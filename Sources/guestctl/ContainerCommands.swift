// guestctl run and guestctl container …: OCI containers through the agent. Parsing here; the calls are
// GuestClient's (ContainerCalls.swift).
import ArgumentParser
import Foundation
import GuestClient
import GuestProto
import GuestSys

/// Bundle and id, shared by run and container create.
struct BundleOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The bundle directory (config.json + rootfs), a path the agent can read.", valueName: "dir"))
    var bundle: String
    @Option(help: "Container id (default: the bundle directory's name).")
    var id: String?

    var absoluteBundle: String {
        bundle.hasPrefix("/") ? bundle : FileManager.default.currentDirectoryPath + "/" + bundle
    }

    var containerID: String { id ?? URL(fileURLWithPath: absoluteBundle).lastPathComponent }

    func request() -> Guestkit_V1_CreateContainerRequest {
        var request = Guestkit_V1_CreateContainerRequest()
        request.id = containerID
        request.bundle = absoluteBundle
        return request
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, start, wait for and delete a container (runc run); exits with its init's exit code.")

    @OptionGroup var agent: AgentOption
    @OptionGroup var bundle: BundleOptions
    @Flag(name: .shortAndLong, help: "The spec runs the init on a terminal (process.terminal): local terminal in raw mode, sizes forwarded.")
    var tty = false
    @Flag(name: .shortAndLong, help: "Create and start it, print its id and return (no stdio; delete it later).")
    var detach = false

    func run() throws {
        Signal.ignore(Signal.pipe)
        let client: GuestClient
        do { client = try agent.connect() } catch let error as ValidationError { throw error } catch { throw fail(error) }
        let id = bundle.containerID
        if detach {
            do {
                _ = try client.createContainer(bundle.request())
                try client.startContainer(id)
                print(id)
                return
            } catch {
                try? client.deleteContainer(id, force: true)
                throw fail(error)
            }
        }
        let terminal = tty ? LocalTerminal(.standardInput) : nil
        if let terminal, FileDescriptor.standardInput.isTerminal { try? terminal.enterRawMode() }
        defer { terminal?.restore() }
        let run = ContainerRun(request: bundle.request(), stdin: .standardInput, stdout: .standardOutput,
                               stderr: tty ? nil : .standardError)
        let status: ProcessExit
        do {
            status = try run.run(on: client, terminal: tty) { _ in
                guard let terminal else { return }
                if let size = terminal.size { try? client.resizeTerminal(id, rows: size.rows, columns: size.columns, container: id) }
                terminal.watchResizes { size in try? client.resizeTerminal(id, rows: size.rows, columns: size.columns, container: id) }
            }
        } catch {
            terminal?.restore()
            throw fail(error)
        }
        terminal?.restore()
        throw ExitCode(status.shellCode)
    }
}

struct Container: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage containers in the guest.",
        subcommands: [Create.self, Start.self, ContainerExec.self, State.self, List.self, ContainerKill.self, Pause.self,
                      Resume.self, Update.self, Stats.self, Delete.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a container from a bundle (its init waits for start).")
        @OptionGroup var agent: AgentOption
        @OptionGroup var bundle: BundleOptions

        func run() throws {
            do {
                let created = try agent.connect().createContainer(bundle.request())
                print("\(created.id) \(created.pid)")
            } catch let error as ValidationError { throw error } catch { throw fail(error) }
        }
    }

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start a created container.")
        @OptionGroup var agent: AgentOption
        @Argument(help: "Container id.") var id: String

        func run() throws {
            do { try agent.connect().startContainer(id) } catch let error as ValidationError { throw error } catch { throw fail(error) }
        }
    }

    struct ContainerExec: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "exec", abstract: "Run a process in a running container; exits with its exit code.")
        @OptionGroup var agent: AgentOption
        @Flag(name: .shortAndLong, help: "Run on a terminal.") var tty = false
        @Flag(name: .shortAndLong, help: "Send local stdin.") var interactive = false
        @Option(name: .shortAndLong, help: ArgumentHelp("Environment variable (repeatable; PATH defaults to the usual).", valueName: "K=V"))
        var env: [String] = []
        @Option(name: .shortAndLong, help: ArgumentHelp("uid or uid:gid in the container.", valueName: "user")) var user: String?
        @Option(name: [.customShort("w"), .long], help: ArgumentHelp("Working directory.", valueName: "dir")) var workdir = "/"
        @Option(name: .customLong("exec-id"), help: "Id for the process (the agent picks one otherwise).") var execID: String?
        @Argument(help: "Container id.") var id: String
        @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).") var command: [String] = []

        mutating func validate() throws {
            if command.first == "--" { command.removeFirst() }
            guard !command.isEmpty else { throw ValidationError("name the command: guestctl container exec ID -- CMD ARGS…") }
        }

        func run() throws {
            Signal.ignore(Signal.pipe)
            var process: [String: Any] = ["args": command, "cwd": workdir, "terminal": tty]
            var environment = env
            if !environment.contains(where: { $0.hasPrefix("PATH=") }) {
                environment.insert("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", at: 0)
            }
            process["env"] = environment
            if let user {
                let parts = user.split(separator: ":").map { UInt32($0) }
                guard let uid = parts.first ?? nil, parts.count <= 2, parts.allSatisfy({ $0 != nil }) else {
                    throw ValidationError("-u \(user): expected uid or uid:gid")
                }
                process["user"] = ["uid": uid, "gid": parts.count == 2 ? parts[1] ?? 0 : 0]
            }
            let terminal = tty ? LocalTerminal(.standardInput) : nil
            if let size = terminal?.size { process["consoleSize"] = ["height": size.rows, "width": size.columns] }
            var request = Guestkit_V1_ExecProcessRequest()
            request.containerID = id
            request.id = execID ?? ""
            request.processJson = [UInt8](try JSONSerialization.data(withJSONObject: process))
            request.stdin = interactive
            request.stdout = true
            request.stderr = !tty
            let client: GuestClient
            do { client = try agent.connect() } catch let error as ValidationError { throw error } catch { throw fail(error) }
            if let terminal, interactive, FileDescriptor.standardInput.isTerminal { try? terminal.enterRawMode() }
            defer { terminal?.restore() }
            let status: ProcessExit
            do {
                let started = try client.execProcess(request)
                terminal?.watchResizes { size in try? client.resizeTerminal(started.id, rows: size.rows, columns: size.columns, container: id) }
                status = try StdioSession(stdin: interactive ? .standardInput : nil, stdout: .standardOutput, stderr: tty ? nil : .standardError)
                    .run(on: client, id: started.id, container: id) { () throws(GuestClientError) in try client.wait(started.id, container: id) }
            } catch {
                terminal?.restore()
                throw fail(error)
            }
            terminal?.restore()
            throw ExitCode(status.shellCode)
        }
    }

    struct State: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a container's OCI state (JSON).")
        @OptionGroup var agent: AgentOption
        @Argument(help: "Container id.") var id: String

        func run() throws {
            do { print(try agent.connect().containerState(id).stateJson) } catch let error as ValidationError { throw error } catch { throw fail(error) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the containers.")
        @OptionGroup var agent: AgentOption

        func run() throws {
            let containers: [Guestkit_V1_ContainerInfo]
            do { containers = try agent.connect().listContainers() } catch let error as ValidationError { throw error } catch { throw fail(error) }
            print("ID".padding(toLength: 20, withPad: " ", startingAt: 0) + "PID".padding(toLength: 8, withPad: " ", startingAt: 0)
                  + "STATUS".padding(toLength: 12, withPad: " ", startingAt: 0) + "BUNDLE")
            for c in containers {
                print(c.id.padding(toLength: 20, withPad: " ", startingAt: 0) + "\(c.pid)".padding(toLength: 8, withPad: " ", startingAt: 0)
                      + Container.statusName(c.status).padding(toLength: 12, withPad: " ", startingAt: 0) + c.bundle)
            }
        }
    }

    static func statusName(_ status: Guestkit_V1_ContainerStatus) -> String {
        switch status {
        case .creating: return "creating"
        case .created: return "created"
        case .running: return "running"
        case .paused: return "paused"
        case .stopped: return "stopped"
        default: return "unknown"
        }
    }

    struct ContainerKill: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "kill", abstract: "Signal a container's init (or, with --all, every process in it).")
        @OptionGroup var agent: AgentOption
        @Flag(help: "Every process in the container's cgroup (SIGKILL through cgroup.kill).") var all = false
        @Argument(help: "Container id.") var id: String
        @Argument(help: "Signal name or number (default TERM).") var signal: String = "TERM"

        func run() throws {
            guard let number = Signal.number(signal) else { throw ValidationError("\(signal) is not a signal name or number") }
            do { try agent.connect().signal(id, number, container: id, all: all) } catch let error as ValidationError { throw error } catch { throw fail(error) }
        }
    }

    struct Pause: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Freeze every process of a container.")
        @OptionGroup var agent: AgentOption
        @Argument(help: "Container id.") var id: String
        func run() throws {
            do { try agent.connect().pauseContainer(id) } catch let error as ValidationError { throw error } catch { throw fail(error) }
        }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Thaw a paused container.")
        @OptionGroup var agent: AgentOption
        @Argument(help: "Container id.") var id: String
        func run() throws {
            do { try agent.connect().resumeContainer(id) } catch let error as ValidationError { throw error } catch { throw fail(error) }
        }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a container's cgroup resources.")
        @OptionGroup var agent: AgentOption
        @Option(help: ArgumentHelp("The spec's linux.resources as JSON, or @FILE.", valueName: "json")) var resources: String
        @Argument(help: "Container id.") var id: String

        func run() throws {
            let text = resources.hasPrefix("@") ? try String(contentsOfFile: String(resources.dropFirst()), encoding: .utf8) : resources
            do { try agent.connect().updateContainer(id, resources: Array(text.utf8)) } catch let error as ValidationError { throw error } catch { throw fail(error) }
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a container's cgroup figures.")
        @OptionGroup var agent: AgentOption
        @Argument(help: "Container id.") var id: String

        func run() throws {
            let s: Guestkit_V1_ContainerStatsResponse
            do { s = try agent.connect().containerStats(id) } catch let error as ValidationError { throw error } catch { throw fail(error) }
            print("cpu usage       \(s.cpuUsageUsec) us (user \(s.cpuUserUsec), system \(s.cpuSystemUsec))")
            print("cpu throttled   \(s.cpuThrottledPeriods) of \(s.cpuPeriods) periods, \(s.cpuThrottledUsec) us")
            print("memory          \(s.memoryCurrent) bytes, max \(s.memoryMax == 0 ? "unlimited" : String(s.memoryMax))")
            print("swap            \(s.memorySwapCurrent) bytes")
            print("memory events   " + s.memoryEvents.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
            print("pids            \(s.pidsCurrent), max \(s.pidsMax == 0 ? "unlimited" : String(s.pidsMax))")
            for io in s.io {
                print("io \(io.device)     read \(io.readBytes) bytes/\(io.readIos) ops, write \(io.writeBytes) bytes/\(io.writeIos) ops")
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a container: processes, cgroup, mounts (--force kills a running one).")
        @OptionGroup var agent: AgentOption
        @Flag(name: .shortAndLong, help: "Kill it first if it still runs.") var force = false
        @Argument(help: "Container id.") var id: String
        func run() throws {
            do { try agent.connect().deleteContainer(id, force: force) } catch let error as ValidationError { throw error } catch { throw fail(error) }
        }
    }
}
