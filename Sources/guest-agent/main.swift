// guest-agent: serve guestkit.v1.Agent until SIGTERM (AgentCommand in GuestAgent).
import GuestAgent

AgentCommand.main(Array(CommandLine.arguments.dropFirst()))
