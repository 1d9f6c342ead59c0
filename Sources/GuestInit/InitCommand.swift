// guest-init's command line: its few arguments, then GuestInit.boot, which never returns. The kernel passes
// command-line words it does not know to init as arguments, so anything unrecognised is passed on to be
// logged, never rejected. Shared by the guest-init executable and the guest-init-agent multi-call binary.
import GuestSys

/// guest-init's `main`: parses the arguments (without argv[0]) and boots, or prints and exits.
public enum InitCommand {
    public static let usage = """
        usage: guest-init [--cmdline TEXT] [--print-options] [--version]
          --cmdline TEXT    use TEXT instead of /proc/cmdline (tests)
          --print-options   print what the command line means to guest-init and exit (any pid)
          --version         print the version and exit
        guest-init runs only as PID 1: of a guest VM, or of a PID + mount namespace for testing:
          unshare --pid --mount --uts --fork --mount-proc guest-init --cmdline 'guest.agent=/bin/true'

        """

    public static func main(_ arguments: [String]) -> Never {
        var invocation = GuestInit.Invocation()
        var printOptions = false
        var arguments = arguments[...]
        while let argument = arguments.popFirst() {
            switch argument {
            case "--cmdline":
                guard let text = arguments.popFirst() else {
                    try? FileDescriptor.standardError.writeAll("guest-init: --cmdline needs a value\n" + usage)
                    Processes.exitImmediately(2)
                }
                invocation.commandLine = text
            case _ where argument.hasPrefix("--cmdline="):
                invocation.commandLine = String(argument.dropFirst("--cmdline=".count))
            case "--print-options":
                printOptions = true
            case "--version":
                try? FileDescriptor.standardOutput.writeAll("guest-init \(GuestInit.version)\n")
                Processes.exitImmediately(0)
            case "--help", "-h":
                try? FileDescriptor.standardOutput.writeAll(usage)
                Processes.exitImmediately(0)
            default:
                invocation.ignoredArguments.append(argument)
            }
        }
        if printOptions {
            let text = invocation.commandLine ?? (try? FileSystem.readText("/proc/cmdline")) ?? ""
            try? FileDescriptor.standardOutput.writeAll(GuestInit.describe(BootOptions(commandLine: text)))
            Processes.exitImmediately(0)
        }
        GuestInit.boot(invocation)
    }
}
