// Placeholder until its issue lands.
import ArgumentParser

struct KernelBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kernel", abstract: "Not built yet.")
    func run() throws { print("kernel: no benchmark yet") }
}
