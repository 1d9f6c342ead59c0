// Placeholder until its issue lands.
import ArgumentParser

struct AgentBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "agent", abstract: "Not built yet.")
    func run() throws { print("agent: no benchmark yet") }
}
