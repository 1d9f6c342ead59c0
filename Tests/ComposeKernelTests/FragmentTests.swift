import Testing
@testable import ComposeKernel

/// The fragment line syntax: what merge_config.sh and conf accept, and clear errors for the rest.
struct FragmentTests {
    @Test(arguments: [
        ("CONFIG_VIRTIO=y", "VIRTIO", ConfigValue.yes),
        ("CONFIG_EXT4_FS=m", "EXT4_FS", .module),
        ("CONFIG_DEBUG_FS=n", "DEBUG_FS", .no),
        ("# CONFIG_MODULES is not set", "MODULES", .no),
        ("CONFIG_NR_CPUS=64", "NR_CPUS", .number("64")),
        ("CONFIG_PHYSICAL_START=0x1000000", "PHYSICAL_START", .number("0x1000000")),
        ("CONFIG_LOG_BUF_SHIFT=-1", "LOG_BUF_SHIFT", .number("-1")),
        ("CONFIG_CMDLINE=\"console=ttyS0 quiet\"", "CMDLINE", .string("console=ttyS0 quiet")),
        ("CONFIG_LOCALVERSION=\"a \\\"q\\\"\"", "LOCALVERSION", .string("a \"q\"")),
        ("  CONFIG_PCI=y  ", "PCI", .yes),
    ])
    func parsesEntry(line: String, symbol: String, value: ConfigValue) throws {
        let fragment = try KernelFragment(name: "t", path: "t.conf", text: line)
        #expect(fragment.entries == [ConfigEntry(symbol: symbol, value: value, location: SourceLocation(path: "t.conf", line: 1))])
    }

    @Test(arguments: [
        ("VIRTIO=y", "expected CONFIG_<NAME>=<value>"),
        ("CONFIG_VIRTIO = y", "is not a Kconfig symbol"),
        ("CONFIG_VIRTIO=maybe", "expected y, m, n, a number or a quoted string"),
        ("CONFIG_VIR-TIO=y", "is not a Kconfig symbol"),
        ("CONFIG_CMDLINE=\"open", "expected y, m, n, a number or a quoted string"),
        ("CONFIG_VIRTIO", "expected CONFIG_<NAME>=<value>"),
    ])
    func rejectsMalformedLine(line: String, message: String) {
        #expect {
            _ = try KernelFragment(name: "t", path: "frag.conf", text: "# header\n\(line)\n")
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("frag.conf:2: ") && text.contains(message)
        }
    }

    @Test func keepsLineNumbersAndFlagsCommentsNamingSymbols() throws {
        let text = """
            # why: the console
            CONFIG_TTY=y

            # needs CONFIG_SERIAL_CORE too (this comment would confuse merge_config.sh)
            # CONFIG_VT is not set
            """
        let fragment = try KernelFragment(name: "t", path: "t.conf", text: text)
        #expect(fragment.entries.map(\.location.line) == [2, 5])
        #expect(fragment.entries.map(\.line) == ["CONFIG_TTY=y", "# CONFIG_VT is not set"])
        #expect(fragment.commentsNamingSymbols == [SourceLocation(path: "t.conf", line: 4)])
    }
}

/// "Did you mean": nearest names by edit distance, and no suggestion for far-off names.
struct SymbolSuggestionTests {
    static let known = ["VIRTIO_BLK", "VIRTIO_NET", "VIRTIO_PMEM", "EROFS_FS", "EXT4_FS", "OVERLAY_FS", "firecracker", "qemu-microvm"]

    @Test(arguments: [
        ("VIRTIO_BLOK", "VIRTIO_BLK"),
        ("VIRITO_NET", "VIRTIO_NET"),  // swapped neighbours
        ("EROFS", "EROFS_FS"),
        ("EXT4FS", "EXT4_FS"),
        ("OVERLAYFS", "OVERLAY_FS"),
        ("firecraker", "firecracker"),
        ("qemu-mircovm", "qemu-microvm"),
    ])
    func suggestsClosest(name: String, expected: String) {
        #expect(SymbolSuggestion.closest(to: name, among: Self.known) == expected)
    }

    @Test(arguments: ["SOUND", "USB_STORAGE_REALTEK", "x"])
    func suggestsNothingFarOff(name: String) {
        #expect(SymbolSuggestion.closest(to: name, among: Self.known) == nil)
    }
}
