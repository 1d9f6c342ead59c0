// guest-agent: parse the command line, then serve guestkit.v1.Agent until SIGTERM (see GuestAgent). The
// same binary is a container's init and exec init (re-exec'd by the agent, like `runc init`) and the
// helper that runs a container's runtime-namespace hooks; those modes are checked before any option
// parsing.
import GuestAgent
import GuestContainer
import GuestSys

let arguments = CommandLine.arguments
if arguments.count >= 2 {
    switch arguments[1] {
    case "container-init", "exec-init": ContainerInit.main()
    case "container-hooks": HookHelper.main()
    default: break
    }
}

let options: AgentOptions
do {
    options = try AgentOptions(arguments: Array(arguments.dropFirst()))
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
