// guestkit-fuzz: the libFuzzer harnesses of Tests/Fuzz/Harnesses in one executable.
//
// Built for fuzzing (`make fuzz`: -sanitize=address, -sanitize=fuzzer coverage, GUESTKIT_LIBFUZZER), it is
// libFuzzer: GUESTKIT_FUZZ_HARNESS names the harness, every argument is libFuzzer's
// (`GUESTKIT_FUZZ_HARNESS=vhost-user guestkit-fuzz -max_total_time=60 corpus/`). Built plainly, it replays
// inputs through a harness and writes the seed corpus:
//   guestkit-fuzz replay HARNESS FILE|DIR…      run each input (a crash input reproduces its crash)
//   guestkit-fuzz seeds DIR                     write every harness's seeds to DIR/<harness>/seed-N
//   guestkit-fuzz list                          the harness names
import FuzzHarnesses
import GuestSys
#if canImport(Glibc)
import Glibc
#endif

#if GUESTKIT_LIBFUZZER
import CFuzzDriver

// Written once in main before the driver starts, read only by the driver's callback on the same thread.
nonisolated(unsafe) var selectedHarness = FuzzHarness.ttrpcFrames

@main
struct FuzzMain {
    static func main() {
        let name = getenv("GUESTKIT_FUZZ_HARNESS").map { String(cString: $0) } ?? ""
        guard let harness = FuzzHarness(rawValue: name) else {
            try? FileDescriptor.standardError.writeAll(
                "guestkit-fuzz: set GUESTKIT_FUZZ_HARNESS to one of: \(FuzzHarness.allCases.map(\.rawValue).joined(separator: ", "))\n")
            exit(2)
        }
        selectedHarness = harness
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            selectedHarness.run(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        })
    }
}
#else
@main
struct FuzzMain {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        switch arguments.first {
        case "list":
            print(FuzzHarness.allCases.map(\.rawValue).joined(separator: "\n"))
        case "seeds" where arguments.count == 2:
            do { try CorpusFiles.writeSeeds(to: arguments[1]) } catch {
                fail("writing seeds: \(error)")
            }
        case "replay" where arguments.count >= 3:
            guard let harness = FuzzHarness(rawValue: arguments[1]) else { fail("unknown harness \(arguments[1])") }
            var count = 0
            for path in arguments.dropFirst(2) {
                for input in CorpusFiles.inputs(at: path) {
                    input.bytes.withUnsafeBytes { harness.run($0) }
                    count += 1
                }
            }
            print("guestkit-fuzz: \(count) inputs through \(harness.rawValue), no crash")
        default:
            fail("usage: guestkit-fuzz list | seeds DIR | replay HARNESS FILE|DIR…  (built with make fuzz, it is libFuzzer)")
        }
    }

    static func fail(_ message: String) -> Never {
        try? FileDescriptor.standardError.writeAll("guestkit-fuzz: \(message)\n")
        exit(2)
    }
}
#endif
