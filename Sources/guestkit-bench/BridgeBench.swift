// Placeholder until its issue lands.
import ArgumentParser

struct BridgeBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bridge", abstract: "Not built yet.")
    func run() throws { print("bridge: no benchmark yet") }
}
