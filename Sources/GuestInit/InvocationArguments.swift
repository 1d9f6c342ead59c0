/// What guest-init's own arguments ask for. As PID 1 only `--cmdline` is used: the kernel hands init
/// every command-line word it does not know and everything after `--`, so a `--help` or a stray word
/// there must not end PID 1 (that panics the kernel); it is logged and ignored. Anywhere else the
/// informational flags print and exit, and boot itself refuses (not PID 1).
public enum InvocationRequest: Equatable, Sendable {
    case boot(GuestInit.Invocation)
    case printOptions(commandLine: String?)
    case version
    case help
    /// A malformed invocation outside PID 1 (e.g. `--cmdline` without its text).
    case usageError(String)

    /// Reads `arguments` (without argv[0]).
    public static func parse(_ arguments: [String], asPID1: Bool) -> InvocationRequest {
        var invocation = GuestInit.Invocation()
        var informational: InvocationRequest?
        var printOptions = false
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            switch argument {
            case "--cmdline":
                guard let text = rest.popFirst() else {
                    if asPID1 { invocation.ignoredArguments.append(argument); continue }
                    return .usageError("--cmdline needs a value")
                }
                invocation.commandLine = text
            case _ where argument.hasPrefix("--cmdline="):
                invocation.commandLine = String(argument.dropFirst("--cmdline=".count))
            case "--print-options" where !asPID1:
                printOptions = true
            case "--version" where !asPID1:
                informational = informational ?? .version
            case "--help" where !asPID1, "-h" where !asPID1:
                informational = informational ?? .help
            default:
                invocation.ignoredArguments.append(argument)
            }
        }
        if let informational { return informational }
        if printOptions { return .printOptions(commandLine: invocation.commandLine) }
        return .boot(invocation)
    }
}

