// Placeholder until its issue lands.
import ArgumentParser

struct BootBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "boot", abstract: "Not built yet.")
    func run() throws { print("boot: no benchmark yet") }
}
