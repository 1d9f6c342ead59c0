// guest-agent's command line: parse it, then serve guestkit.v1.Agent until SIGTERM. Shared by the
// guest-agent executable and the guest-init-agent multi-call binary. The same binary is a container's
// init and exec init (re-exec'd by the agent, like `runc init`) and the helper that runs a container's
// runtime-namespace hooks; those modes are checked before any option parsing.
import GuestContainer
import GuestSys

/// guest-agent's `main`: parses the arguments (without argv[0]) and runs the agent; never returns.
public enum AgentCommand {
    public static func main(_ arguments: [String]) -> Never {
        switch arguments.first {
        case "container-init", "exec-init": ContainerInit.main()
        case "container-hooks": HookHelper.main()
        default: break
        }
        let options: AgentOptions
        do {
            options = try AgentOptions(arguments: arguments)
        } catch {
            try? FileDescriptor.standardError.writeAll(error.isHelp ? error.description + "\n" : "guest-agent: \(error)\n")
            Processes.exitImmediately(error.isHelp ? 0 : 2)
        }
        do {
            try Agent(options: options).run()
        } catch {
            try? FileDescriptor.standardError.writeAll("guest-agent: \(error)\n")
            Processes.exitImmediately(1)
        }
        Processes.exitImmediately(0)
    }
}
