@testable import ContainerdShim
import Testing

/// The shim's TOML configuration: the subset of TOML it reads, its keys, and the errors for everything else.
struct ShimConfigTests {
    @Test func defaultsSitBesideTheBinary() {
        let config = ShimConfig(binaryDirectory: "/opt/gk/bin")
        #expect(config.manifest == "/opt/gk/share/guestkit/rootfs.img.manifest.json")
        #expect(config.bridge == "/opt/gk/bin/guest-vsock-bridge")
        #expect(config.machine == "q35" && config.memoryMiB == 256 && config.accelerator == "auto")
    }

    @Test func readsEveryKey() throws {
        let text = """
            # a comment
            [guest]
            manifest = "/m.json"   # trailing comment
            kernel = '/k/bzImage'
            machine = "microvm"
            memory_mib = 1_024
            vcpus = 2
            accelerator = "tcg"
            boot_timeout_seconds = 90
            call_timeout_seconds = 5
            shutdown_grace_seconds = 0
            kernel_args = "quiet guest.log=debug"

            [shim]
            log_level = "debug"
            qemu = "/usr/bin/qemu-system-x86_64"
            bridge = "/b"
            run_root = "/run/gk"
            """
        let c = try ShimConfig(binaryDirectory: "/x/bin", toml: text, source: "t.toml")
        #expect(c.manifest == "/m.json" && c.kernel == "/k/bzImage" && c.machine == "microvm")
        #expect(c.memoryMiB == 1024 && c.vcpus == 2 && c.accelerator == "tcg")
        #expect(c.bootTimeout == .seconds(90) && c.callTimeout == .seconds(5) && c.shutdownGrace == .seconds(0))
        #expect(c.kernelArguments == ["quiet", "guest.log=debug"])
        #expect(c.debug && c.qemu == "/usr/bin/qemu-system-x86_64" && c.bridge == "/b" && c.runRoot == "/run/gk")
    }

    @Test(arguments: [
        ("[guest]\nmemory = 5", "unknown key guest.memory"),
        ("[guest]\nmemory_mib = \"lots\"", "guest.memory_mib must be an integer"),
        ("[guest]\nmemory_mib = 16", "from 64 to 65536"),
        ("[guest]\nmachine = \"pc\"", "expected q35 or microvm"),
        ("[guest]\naccelerator = \"hvf\"", "expected auto, kvm or tcg"),
        ("[shim]\nrun_root = \"relative\"", "absolute path"),
        ("[guest]\nvcpus = 1\nvcpus = 2", "line 3: key guest.vcpus is defined twice"),
        ("[guest\nvcpus = 1", "line 1"),
        ("[[guest]]", "arrays of tables"),
        ("[guest]\nmanifest = \"open", "unterminated string"),
        ("[guest]\nmanifest = \"\\q\"", "unknown escape"),
        ("[guest]\nvcpus = 2 3", "unexpected text after the value"),
        ("[guest]\nvcpus =", "expected a value"),
        ("= 1", "expected a key"),
    ])
    func refuses(text: String, message: String) {
        #expect {
            try ShimConfig(binaryDirectory: "/x/bin", toml: text, source: "t.toml")
        } throws: { error in
            "\(error)".contains(message) && "\(error)".contains("t.toml")
        }
    }

    @Test(arguments: [
        ("a = \"x\\u00e9\\\"\"", TOMLDocument.Value.string("xé\"")),
        ("a = [1, \"two\", [true]]", .array([.integer(1), .string("two"), .array([.bool(true)])])),
        ("a = -42", .integer(-42)),
        ("a = 'C:\\path'", .string("C:\\path")),
        ("\"quoted key\" = false", .bool(false)),
    ])
    func readsValues(text: String, value: TOMLDocument.Value) throws {
        let document = try TOMLDocument(parsing: text)
        #expect(document.values.values.first == value)
    }

    @Test func deepArraysAndHugeFilesAreRefused() {
        #expect(throws: ShimError.self) { try TOMLDocument(parsing: "a = " + String(repeating: "[", count: 100)) }
        #expect(throws: ShimError.self) { try TOMLDocument(parsing: String(repeating: "#", count: (1 << 20) + 1)) }
    }
}
