import GuestInit
import Testing

@Suite struct InvocationArgumentsTests {
    private static func boot(_ commandLine: String? = nil, ignoring ignored: [String] = []) -> InvocationRequest {
        .boot(GuestInit.Invocation(commandLine: commandLine, ignoredArguments: ignored))
    }

    @Test(arguments: [
        ([String](), boot()),
        (["--cmdline", "guest.log=debug"], boot("guest.log=debug")),
        (["--cmdline=guest.log=debug"], boot("guest.log=debug")),
        // What the kernel hands init: unknown bare words, everything after `--`.
        (["--help", "--version", "junk", "--print-options", "-h"], boot(ignoring: ["--help", "--version", "junk", "--print-options", "-h"])),
        (["junk", "--cmdline", "a=1", "--version"], boot("a=1", ignoring: ["junk", "--version"])),
        (["--cmdline"], boot(ignoring: ["--cmdline"])),
    ])
    func asPID1NothingExits(arguments: [String], expected: InvocationRequest) {
        #expect(InvocationRequest.parse(arguments, asPID1: true) == expected)
    }

    @Test(arguments: [
        (["--version"], InvocationRequest.version),
        (["--help"], .help),
        (["-h", "--version"], .help),
        (["--print-options"], .printOptions(commandLine: nil)),
        (["--print-options", "--cmdline", "x=1"], .printOptions(commandLine: "x=1")),
        (["--cmdline"], .usageError("--cmdline needs a value")),
        (["--cmdline", "x=1", "stray"], boot("x=1", ignoring: ["stray"])),
    ])
    func elsewhereTheFlagsAnswer(arguments: [String], expected: InvocationRequest) {
        #expect(InvocationRequest.parse(arguments, asPID1: false) == expected)
    }
}
