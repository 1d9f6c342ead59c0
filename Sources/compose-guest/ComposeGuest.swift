// compose-guest: bakes guest images. Each subcommand parses its options and calls into ComposeKernel,
// ComposeImage or GuestLaunch; the work and its tests live there. Every error, a parse error included,
// is printed as `compose-guest <command>: <message>`. SIGINT, SIGTERM and SIGHUP are passed on to the
// children (make, mke2fs, QEMU…), then partial outputs and scratch directories are removed, then the
// tool ends with that signal (TerminationSignals).
import ArgumentParser
import Foundation
import HostProcess

@main
struct ComposeGuest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compose-guest",
        abstract: "Bake micro-VM guests: a trimmed kernel, a rootfs image, and launch settings for each VMM.",
        subcommands: [KernelConfigCommand.self, KernelCommand.self, ImageCommand.self, LaunchCommand.self, BootCommand.self])

    static func main() {
        TerminationSignals.install()
        let arguments = Array(CommandLine.arguments.dropFirst())
        let subcommand = configuration.subcommands.map { $0.configuration.commandName ?? "" }
            .first { arguments.first == $0 }
        let prefix = "compose-guest" + (subcommand.map { " \($0)" } ?? "")
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            TerminationSignals.parkIfTerminating()
            let code = exitCode(for: error)
            if code == .success {
                // --help and the like: ArgumentParser's own text, unprefixed.
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = error is ExitCode ? "" : fullMessage(for: error)
            if !message.isEmpty {
                let lines = message.split(separator: "\n", omittingEmptySubsequences: false)
                let first = lines.first.map { $0.hasPrefix("Error: ") ? String($0.dropFirst(7)) : String($0) } ?? ""
                let text = ([first] + lines.dropFirst().map(String.init)).joined(separator: "\n")
                FileHandle.standardError.write(Data("\(prefix): \(text)\n".utf8))
            }
            Foundation.exit(code.rawValue)
        }
        TerminationSignals.parkIfTerminating()
    }
}

/// Reports an error of a subcommand's own (already worded) and fails: `compose-guest NAME: message`.
func commandFailure(_ command: String, _ message: String) -> ExitCode {
    TerminationSignals.parkIfTerminating()
    FileHandle.standardError.write(Data("compose-guest \(command): \(message)\n".utf8))
    return ExitCode.failure
}
