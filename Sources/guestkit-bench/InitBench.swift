// Placeholder until its issue lands.
import ArgumentParser

struct InitBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Not built yet.")
    func run() throws { print("init: no benchmark yet") }
}
