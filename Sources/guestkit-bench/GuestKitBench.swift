// guestkit-bench: `make bench` runs its subcommands. Each prints figures and asserts nothing: speed and
// memory goals are reported here, never checked in tests, because the machines are noisy.
import ArgumentParser

@main
struct GuestKitBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guestkit-bench",
        abstract: "Print GuestKit's benchmark figures.",
        subcommands: [InitBench.self, AgentBench.self, ContainerBench.self, KernelBench.self, ImageBench.self, BridgeBench.self,
                      BootBench.self, DensityBench.self, NetworkBench.self, ShimBench.self])
}
