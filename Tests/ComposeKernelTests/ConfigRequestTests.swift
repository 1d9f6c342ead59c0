import Testing
@testable import ComposeKernel

/// merge_config.sh's rule: later fragments override earlier ones; differing values are conflicts,
/// reported with both places.
struct ConfigRequestTests {
    struct Row: Sendable, CustomTestStringConvertible {
        let label: String
        let fragments: [String]
        let merged: [String]
        let conflicts: [String]
        var testDescription: String { label }
    }

    static let rows: [Row] = [
        Row(label: "disjoint fragments keep everything", fragments: ["CONFIG_A=y", "CONFIG_B=m"],
            merged: ["CONFIG_A=y", "CONFIG_B=m"], conflicts: []),
        Row(label: "a later value overrides and moves to its place",
            fragments: ["CONFIG_A=y\nCONFIG_B=y", "CONFIG_A=m"],
            merged: ["CONFIG_B=y", "CONFIG_A=m"],
            conflicts: ["CONFIG_A: y at f0.conf:1 overridden by m at f1.conf:1"]),
        Row(label: "is-not-set turns an option off",
            fragments: ["CONFIG_DEBUG_FS=y", "# CONFIG_DEBUG_FS is not set"],
            merged: ["# CONFIG_DEBUG_FS is not set"],
            conflicts: ["CONFIG_DEBUG_FS: y at f0.conf:1 overridden by n at f1.conf:1"]),
        Row(label: "=n and is-not-set are the same request",
            fragments: ["CONFIG_X=n", "# CONFIG_X is not set"], merged: ["# CONFIG_X is not set"], conflicts: []),
        Row(label: "the same value twice is no conflict",
            fragments: ["CONFIG_PCI=y", "\n\nCONFIG_PCI=y"], merged: ["CONFIG_PCI=y"], conflicts: []),
        Row(label: "three fragments: each override reported",
            fragments: ["CONFIG_NR_CPUS=8", "CONFIG_NR_CPUS=16", "# c\nCONFIG_NR_CPUS=64"],
            merged: ["CONFIG_NR_CPUS=64"],
            conflicts: ["CONFIG_NR_CPUS: 8 at f0.conf:1 overridden by 16 at f1.conf:1",
                        "CONFIG_NR_CPUS: 16 at f1.conf:1 overridden by 64 at f2.conf:2"]),
        Row(label: "a conflict inside one fragment",
            fragments: ["CONFIG_A=y\nCONFIG_A=n"], merged: ["# CONFIG_A is not set"],
            conflicts: ["CONFIG_A: y at f0.conf:1 overridden by n at f0.conf:2"]),
    ]

    @Test(arguments: rows)
    func merges(row: Row) throws {
        let fragments = try row.fragments.enumerated().map { index, text in
            try KernelFragment(name: "f\(index)", path: "f\(index).conf", text: text)
        }
        let request = ConfigRequest(merging: fragments)
        #expect(request.entries.map(\.line) == row.merged)
        #expect(request.conflicts.map(\.description) == row.conflicts)
        #expect(request.text == row.merged.joined(separator: "\n") + "\n")
    }

    @Test func conflictKeepsBothEntries() throws {
        let a = try KernelFragment(name: "base", path: "kernel-config/common/base.conf", text: "\n\nCONFIG_PRINTK=y")
        let b = try KernelFragment(name: "quiet", path: "/tmp/quiet.conf", text: "# CONFIG_PRINTK is not set")
        let conflict = try #require(ConfigRequest(merging: [a, b]).conflicts.first)
        #expect(conflict.earlier.location == SourceLocation(path: "kernel-config/common/base.conf", line: 3))
        #expect(conflict.later.location == SourceLocation(path: "/tmp/quiet.conf", line: 1))
        #expect(conflict.symbol == "PRINTK")
    }
}
