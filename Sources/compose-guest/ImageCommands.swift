// Placeholder until the compose-guest image issue lands.
import ArgumentParser

struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "image", abstract: "Not built yet.")
    func run() throws { throw ValidationError("image is not built yet") }
}

struct LaunchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "launch", abstract: "Not built yet.")
    func run() throws { throw ValidationError("launch is not built yet") }
}
