import Foundation
import GuestTestSupport
import Testing
@testable import ComposeKernel

/// A small Kconfig tree on disk exercising what the parser must follow: `source` with $(SRCARCH),
/// preprocessor lines, menus with dependencies, `if` blocks, help text, choices, select, ranges.
struct SyntheticTree {
    static let files: [String: String] = [
        "Kconfig": """
            # SPDX comment
            mainmenu "Test/$(ARCH) Kernel Configuration"

            source "scripts/Kconfig.include"
            source "arch/$(SRCARCH)/Kconfig"
            source "fs/Kconfig"
            source "drivers/Kconfig"
            """,
        "scripts/Kconfig.include": """
            cc-option = $(success,true)
            ld-option := $(success,true)
            $(error-if,$(failure,true),never)
            """,
        "arch/x86/Kconfig": """
            config X86
            \tdef_bool y
            \tselect ARCH_HAS_THING

            config EXPERT
            \tbool "Expert mode"

            config ARCH_HAS_THING
            \tbool

            config CC_HAS_FOO
            \tdef_bool $(cc-option,-mfoo)
            """,
        "arch/arm64/Kconfig": """
            config ARM64_ONLY
            \tbool "arm64 thing"
            """,
        "fs/Kconfig": """
            # file systems

            menuconfig MISC_FILESYSTEMS
            \tbool "Misc filesystems"

            if MISC_FILESYSTEMS

            config EROFS_FS
            \ttristate "EROFS"
            \thelp
            \t  Help that mentions
            \t  config HIDDEN_IN_HELP
            \t    and depends on NOTHING: all skipped.

            \t  Second paragraph.

            config EROFS_ZIP
            \tbool "zip"
            \tdepends on EROFS_FS
            \tdefault y

            endif # MISC_FILESYSTEMS
            """,
        "drivers/Kconfig": """
            menu "Drivers"
            \tdepends on X86

            config SLUB_TINY
            \tbool "tiny" if EXPERT
            \tdefault n

            config SERIAL_CORE
            \ttristate

            config SERIAL_8250
            \ttristate "8250"
            \tselect SERIAL_CORE

            choice
            \tprompt "Compression"
            \tdefault GZIP

            config GZIP
            \tbool "gzip"

            config ZSTD
            \tbool "zstd"

            endchoice

            config NR_CPUS
            \tint "cpus"
            \trange 2 64
            \tdefault 8

            config NEEDS_THING
            \tbool "needs"
            \tdepends on ARCH_HAS_THING && !EXPERT

            config FOO_OTHER
            \tbool "foo"

            config BAR_OTHER
            \tbool "bar"

            config EITHER
            \tbool "either"
            \tdepends on FOO_OTHER || \\
            \t\tBAR_OTHER

            config ONLY_SELECTED
            \tbool

            config SELECTOR
            \tbool "selector"
            \tdepends on EXPERT
            \tselect ONLY_SELECTED

            endmenu
            """,
    ]

    let directory: ScratchDirectory
    let tree: KconfigTree
    let validation: ConfigValidation

    init() throws {
        directory = try ScratchDirectory("kconfig-tree")
        for (path, text) in Self.files {
            let url = directory.url.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        tree = try KconfigTree.parse(source: directory.url, srcArch: "x86")
        validation = ConfigValidation(tree: tree, otherArchitectures: KconfigSymbolIndex.scan(source: directory.url),
                                      treeName: "test tree", arch: .x86_64)
    }
}

struct KconfigTreeTests {
    @Test func followsSourcesAndSkipsHelpAndMacros() throws {
        let synthetic = try SyntheticTree()
        let tree = synthetic.tree
        #expect(tree.warnings == [])
        #expect(tree.fileCount == 5)
        #expect(tree.definitions["HIDDEN_IN_HELP"] == nil)
        #expect(tree.definitions["ARM64_ONLY"] == nil)  // arch/arm64 is not sourced for x86
        #expect(tree.type(of: "NR_CPUS") == .int)
        #expect(tree.type(of: "X86") == .bool)
        let erofs = try #require(tree.definitions["EROFS_FS"]?.first)
        #expect(erofs.location == SourceLocation(path: "fs/Kconfig", line: 8))
        #expect(erofs.dependencies.map(\.origin) == ["if MISC_FILESYSTEMS at fs/Kconfig:6"])
        let either = try #require(tree.definitions["EITHER"]?.first)
        #expect(either.dependencies.map(\.expression.description) == ["FOO_OTHER || BAR_OTHER", "X86"])
        #expect(either.dependencies.map(\.origin) == ["depends on", "menu \"Drivers\" at drivers/Kconfig:1"])
        #expect(tree.reverseDependencies["SERIAL_CORE"]?.map(\.selector) == ["SERIAL_8250"])
        #expect(tree.choices.first?.members == ["GZIP", "ZSTD"])
        #expect(tree.choices.first?.prompt == "Compression")
    }

    struct Row: Sendable, CustomTestStringConvertible {
        let request: String
        let config: String
        let reason: String?
        var testDescription: String { request.replacingOccurrences(of: "\n", with: " ") }
    }

    static let rows: [Row] = [
        Row(request: "CONFIG_EROFS_FS=y", config: "CONFIG_X86=y\n# CONFIG_MISC_FILESYSTEMS is not set",
            reason: "depends on MISC_FILESYSTEMS, which is n (through if MISC_FILESYSTEMS at fs/Kconfig:6); MISC_FILESYSTEMS is not requested: add CONFIG_MISC_FILESYSTEMS=y"),
        Row(request: "# CONFIG_MISC_FILESYSTEMS is not set\nCONFIG_EROFS_FS=y", config: "# CONFIG_MISC_FILESYSTEMS is not set",
            reason: "depends on MISC_FILESYSTEMS, which is n (through if MISC_FILESYSTEMS at fs/Kconfig:6)"),
        Row(request: "CONFIG_MISC_FILESYSTEMS=y\nCONFIG_EROFS_FS=y", config: "CONFIG_MISC_FILESYSTEMS=y\nCONFIG_EROFS_FS=y",
            reason: nil),
        Row(request: "CONFIG_SLUB_TINY=y", config: "CONFIG_X86=y",
            reason: "its prompt shows only if EXPERT, which is n; EXPERT is not requested: add CONFIG_EXPERT=y, and its default is n; nothing selects it"),
        Row(request: "# CONFIG_SERIAL_CORE is not set", config: "CONFIG_X86=y\nCONFIG_SERIAL_8250=y\nCONFIG_SERIAL_CORE=y",
            reason: "selected by SERIAL_8250 (SERIAL_8250=y; drivers/Kconfig:13)"),
        Row(request: "CONFIG_ZSTD=y\nCONFIG_GZIP=y", config: "CONFIG_X86=y\nCONFIG_GZIP=y\n# CONFIG_ZSTD is not set",
            reason: "choice \"Compression\" at drivers/Kconfig:15 picked GZIP (requested at t.conf:2) instead"),
        Row(request: "# CONFIG_GZIP is not set", config: "CONFIG_X86=y\nCONFIG_GZIP=y",
            reason: "choice \"Compression\" at drivers/Kconfig:15 must pick one member; request another (ZSTD)"),
        Row(request: "CONFIG_NR_CPUS=100", config: "CONFIG_X86=y\nCONFIG_NR_CPUS=64",
            reason: "out of its range 2..64 (drivers/Kconfig:27), so olddefconfig set it to 64"),
        Row(request: "CONFIG_ARM64_ONLY=y", config: "CONFIG_X86=y",
            reason: "not defined for x86_64 (only in arch/arm64/Kconfig:1)"),
        Row(request: "CONFIG_EROFS_FZ=y", config: "CONFIG_X86=y",
            reason: "no such symbol in test tree; did you mean CONFIG_EROFS_FS?"),
        Row(request: "CONFIG_ONLY_SELECTED=y", config: "CONFIG_X86=y",
            reason: "it has no prompt, and it has no default; selected only by SELECTOR (SELECTOR=n; drivers/Kconfig:53)"),
        Row(request: "CONFIG_NEEDS_THING=y", config: "CONFIG_X86=y\nCONFIG_EXPERT=y\nCONFIG_ARCH_HAS_THING=y",
            reason: "depends on !EXPERT, but EXPERT is y"),
        Row(request: "CONFIG_EITHER=y", config: "CONFIG_X86=y",
            reason: "depends on FOO_OTHER || BAR_OTHER, which is n (FOO_OTHER=n, BAR_OTHER=n); FOO_OTHER is not requested: add CONFIG_FOO_OTHER=y; BAR_OTHER is not requested: add CONFIG_BAR_OTHER=y"),
        Row(request: "CONFIG_SERIAL_8250=m", config: "CONFIG_X86=y\nCONFIG_SERIAL_8250=y",
            reason: "MODULES is n: without loadable modules a tristate option is y or n"),
        Row(request: "CONFIG_EROFS_ZIP=y", config: "CONFIG_X86=y\nCONFIG_MISC_FILESYSTEMS=y",
            reason: "depends on EROFS_FS, which is n; EROFS_FS is not requested: add CONFIG_EROFS_FS=y"),
        Row(request: "CONFIG_SLUB_TINY=y", config: "# CONFIG_X86 is not set",
            reason: "depends on X86, which is n (through menu \"Drivers\" at drivers/Kconfig:1)"),
    ]

    @Test(arguments: rows)
    func explainsDrop(row: Row) throws {
        let synthetic = try SyntheticTree()
        let request = ConfigRequest(merging: [try KernelFragment(name: "t", path: "t.conf", text: row.request)])
        let dropped = synthetic.validation.dropped(request, in: DotConfig(text: row.config))
        if let reason = row.reason {
            let last = try #require(dropped.last)
            #expect(last.reason == reason)
            #expect(dropped.count == 1)
        } else {
            #expect(dropped.isEmpty)
        }
    }
}
