// Placeholder until its issue lands.
import ArgumentParser

struct ImageBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "image", abstract: "Not built yet.")
    func run() throws { print("image: no benchmark yet") }
}
