// compose-guest: bakes guest images. Each subcommand parses its options and calls into ComposeKernel or
// ComposeImage; the work and its tests live there.
import ArgumentParser

@main
struct ComposeGuest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compose-guest",
        abstract: "Bake micro-VM guests: a trimmed kernel, a rootfs image, and launch settings for each VMM.",
        subcommands: [KernelConfigCommand.self, KernelCommand.self, ImageCommand.self, LaunchCommand.self, BootCommand.self])
}
