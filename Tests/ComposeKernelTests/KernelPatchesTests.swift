import Foundation
import GuestTestSupport
import Testing
@testable import ComposeKernel

/// `kernel-config/patches`: read in name order, identified by their bytes, applied with patch(1), and a
/// patch that does not apply is named.
struct KernelPatchesTests {
    static let fix = """
        --- a/Makefile
        +++ b/Makefile
        @@ -1,2 +1,2 @@
         VERSION = 6
        -PATCHLEVEL = 12
        +PATCHLEVEL = 13

        """

    @Test func readsOnlyPatchFilesInNameOrderAndNoneFromAMissingDirectory() throws {
        let scratch = try ScratchDirectory("kpatch-read")
        try "b".write(toFile: scratch.file("0002-b.patch"), atomically: true, encoding: .utf8)
        try "a".write(toFile: scratch.file("0001-a.patch"), atomically: true, encoding: .utf8)
        try "notes".write(toFile: scratch.file("README"), atomically: true, encoding: .utf8)
        let patches = try KernelPatches(directory: URL(fileURLWithPath: scratch.path))
        #expect(patches.patches.map(\.name) == ["0001-a.patch", "0002-b.patch"])
        #expect(try KernelPatches(directory: URL(fileURLWithPath: scratch.file("none"))) == .none)
        #expect(KernelPatches.none.identity == nil)
    }

    @Test func theIdentityFollowsTheBytes() {
        let one = KernelPatches(patches: [.init(name: "0001.patch", contents: Array("x".utf8))])
        let same = KernelPatches(patches: [.init(name: "0001.patch", contents: Array("x".utf8))])
        let other = KernelPatches(patches: [.init(name: "0001.patch", contents: Array("y".utf8))])
        #expect(one.identity == same.identity)
        #expect(one.identity != other.identity)
        #expect(one.identity?.count == 12)
    }

    @Test func appliesInOrderAndNamesThePatchThatDoesNotApply() throws {
        let scratch = try ScratchDirectory("kpatch-apply")
        let tree = URL(fileURLWithPath: scratch.file("tree"))
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        try "VERSION = 6\nPATCHLEVEL = 12\n".write(to: tree.appendingPathComponent("Makefile"), atomically: true, encoding: .utf8)
        let good = KernelPatches(patches: [.init(name: "0001-fix.patch", contents: Array(Self.fix.utf8))])
        try good.apply(to: tree, scratch: URL(fileURLWithPath: scratch.path))
        #expect(try String(contentsOf: tree.appendingPathComponent("Makefile"), encoding: .utf8) == "VERSION = 6\nPATCHLEVEL = 13\n")

        // The same patch again no longer applies: the error names it and says what to do.
        do {
            try good.apply(to: tree, scratch: URL(fileURLWithPath: scratch.path))
            Issue.record("a patch that was already applied applied again")
        } catch {
            #expect(error.description.contains("kernel patch 0001-fix.patch does not apply"))
            #expect(error.description.contains("kernel-config/patches"))
        }
    }

    @Test func theShippedPatchesAreReadFromTheLibrary() throws {
        let patches = try FragmentLibraryTests.library.patches()
        let names = patches.patches.map(\.name)
        for shipped in ["0001-x86-entry-text-alignment-only-with-pti.patch", "0002-x86-mm-free-init-sections-without-poison.patch",
                        "0003-x86-apic-lapic-timer-khz.patch"] {
            #expect(names.contains(shipped), "\(names)")
        }
        #expect(names == names.sorted())
    }
}
