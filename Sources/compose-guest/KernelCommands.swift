// Placeholder until the compose-guest kernel issue lands.
import ArgumentParser

struct KernelConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kernel-config", abstract: "Not built yet.")
    func run() throws { throw ValidationError("kernel-config is not built yet") }
}

struct KernelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kernel", abstract: "Not built yet.")
    func run() throws { throw ValidationError("kernel is not built yet") }
}
