// guest-agent: parse the command line, then serve guestkit.v1.Agent until SIGTERM (see GuestAgent).
import GuestAgent
import GuestSys

let options: AgentOptions
do {
    options = try AgentOptions(arguments: Array(CommandLine.arguments.dropFirst()))
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
