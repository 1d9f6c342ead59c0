import Foundation
import FuzzHarnesses
import GuestTestSupport
import Testing

/// Every committed corpus input (seeds, and the crash inputs fuzzing found, kept as regressions) through
/// its harness in the plain test build: a harness that traps fails this test with the input's path. The
/// fuzzers themselves run in `make test` for a few seconds each and in `make fuzz` for longer.
@Suite(.serialized) struct FuzzCorpusTests {
    static let corpus = BuiltProducts.packageRoot.appendingPathComponent("Tests/Fuzz/corpus").path

    @Test(arguments: FuzzHarness.allCases)
    func everyCorpusInputRunsCleanly(harness: FuzzHarness) throws {
        let inputs = CorpusFiles.inputs(at: Self.corpus + "/" + harness.rawValue)
        try #require(!inputs.isEmpty, "no corpus in Tests/Fuzz/corpus/\(harness.rawValue) (guestkit-fuzz seeds writes the seeds)")
        for input in inputs { input.bytes.withUnsafeBytes { harness.run($0) } }
    }

    @Test(arguments: FuzzHarness.allCases)
    func theCommittedSeedsAreTheHarnessesOwn(harness: FuzzHarness) throws {
        // Seeds are generated (guestkit-fuzz seeds): the committed ones must be what the code makes today.
        for (index, seed) in harness.seeds.enumerated() {
            let path = Self.corpus + "/\(harness.rawValue)/seed-\(index)"
            let committed = try #require(FileManager.default.contents(atPath: path), "missing \(path): run guestkit-fuzz seeds Tests/Fuzz/corpus")
            #expect([UInt8](committed) == seed, "\(path) is stale: run guestkit-fuzz seeds Tests/Fuzz/corpus")
        }
    }
}
