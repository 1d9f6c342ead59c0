// guest-init's command line: its few arguments, then GuestInit.boot, which never returns. As PID 1 nothing
// here may exit: the informational flags are only honoured at any other pid (see InvocationRequest), and
// words the kernel passes on to init are logged and ignored. Shared by the guest-init executable and the
// guest-init-agent multi-call binary.
import GuestSys

/// guest-init's `main`: parses the arguments (without argv[0]) and boots, or prints and exits.
public enum InitCommand {
    public static let usage = """
        usage: guest-init [--cmdline TEXT] [--print-options] [--version]
          --cmdline TEXT    use TEXT instead of /proc/cmdline (tests)
          --print-options   print what the command line means to guest-init and exit (not as PID 1)
          --version         print the version and exit (not as PID 1)
        guest-init runs only as PID 1: of a guest VM, or of a PID + mount namespace for testing:
          unshare --pid --mount --uts --fork --mount-proc guest-init --cmdline 'guest.agent=/bin/true'
        As PID 1 every argument but --cmdline is logged and ignored (the kernel passes its unknown words to init).

        """

    public static func main(_ arguments: [String]) -> Never {
        switch InvocationRequest.parse(arguments, asPID1: Processes.currentID == 1) {
        case .boot(let invocation):
            GuestInit.boot(invocation)
        case .printOptions(let commandLine):
            let text = commandLine ?? (try? FileSystem.readText("/proc/cmdline")) ?? ""
            try? FileDescriptor.standardOutput.writeAll(GuestInit.describe(BootOptions(commandLine: text)))
            Processes.exitImmediately(0)
        case .version:
            try? FileDescriptor.standardOutput.writeAll("guest-init \(GuestInit.version)\n")
            Processes.exitImmediately(0)
        case .help:
            try? FileDescriptor.standardOutput.writeAll(usage)
            Processes.exitImmediately(0)
        case .usageError(let message):
            try? FileDescriptor.standardError.writeAll("guest-init: \(message)\n" + usage)
            Processes.exitImmediately(2)
        }
    }
}
