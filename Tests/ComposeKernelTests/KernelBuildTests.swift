import Foundation
import GuestTestSupport
import Testing
@testable import ComposeKernel

/// The kernel `make kernel` built, the cache that makes a second build instant, and a build that fails.
@Suite
struct KernelBuildTests {
    init() throws {
        try #require(KernelUnderTest.directory != nil && RealTree.available, "needs GUESTKIT_KERNEL_DIR (make kernel) and the linux-source tree")
    }

    static var directory: URL { KernelUnderTest.directory! }

    func metadata() throws -> ComposeKernel.BuiltKernel {
        let data = try #require(FileManager.default.contents(atPath: Self.directory.appendingPathComponent("kernel.json").path))
        return try JSONDecoder().decode(ComposeKernel.BuiltKernel.self, from: data)
    }

    @Test func builtKernelMatchesItsMetadata() throws {
        let kernel = try metadata()
        let manager = FileManager.default
        func size(_ name: String) throws -> Int64 {
            try #require((manager.attributesOfItem(atPath: Self.directory.appendingPathComponent(name).path)[.size] as? NSNumber)?.int64Value)
        }
        #expect(kernel.arch == "x86_64" && kernel.profiles == ["all"] && kernel.dropped == 0)
        #expect(try size("bzImage") == kernel.bootImageBytes)
        #expect(try size("vmlinux") == kernel.vmlinuxBytes)
        let config = DotConfig(text: try String(contentsOf: Self.directory.appendingPathComponent("config"), encoding: .utf8))
        #expect(config.builtInCount == kernel.builtIn)
        #expect(config.moduleCount == 0 && config["MODULES"] == .no)
        for symbol in ["PVH", "VIRTIO_PCI", "VIRTIO_MMIO", "VIRTIO_PMEM", "FS_DAX", "VIRTIO_VSOCKETS", "EROFS_FS", "OVERLAY_FS"] {
            #expect(config[symbol] == .yes, "config lacks CONFIG_\(symbol)=y")
        }
        // vmlinux carries the PVH entry as a Xen ELF note (XEN_ELFNOTE_PHYS32_ENTRY, type 18).
        let notes = try Command.run(["readelf", "--notes", Self.directory.appendingPathComponent("vmlinux").path])
        #expect(notes.succeeded && notes.stdout.contains("Xen") && notes.stdout.contains("0x00000012"), "\(notes)")
    }

    @Test func secondBuildComesFromTheCache() throws {
        let configurator = try RealTree.configurator(.x86_64)
        let plan = try FragmentLibraryTests.library.plan(arch: .x86_64, profiles: ["all"])
        let scratch = try ScratchDirectory("kernel-cached")
        let output = scratch.url.appendingPathComponent("kernel")
        let started = Date()
        let (kernel, cached) = try KernelBuilder(configurator: configurator).build(plan, output: output)
        #expect(cached)
        #expect(Date().timeIntervalSince(started) < 120)  // generous: a copy, not a build
        #expect(kernel == (try metadata()))
        for name in ["bzImage", "vmlinux", "config"] {
            #expect(FileManager.default.contentsEqual(atPath: output.appendingPathComponent(name).path,
                                                      andPath: Self.directory.appendingPathComponent(name).path), "\(name) differs")
        }
    }

    @Test func failingBuildShowsTheLogTailAndWritesNothing() throws {
        let configurator = try RealTree.configurator(.x86_64)
        let plan = try FragmentLibraryTests.library.plan(arch: .x86_64, profiles: ["kvmtool"])
        var builder = KernelBuilder(configurator: configurator)
        builder.makeVariables = ["KCFLAGS=-fguestkit-no-such-option"]
        defer { try? FileManager.default.removeItem(at: builder.objectDirectory(plan)) }
        let scratch = try ScratchDirectory("kernel-failing")
        let output = scratch.url.appendingPathComponent("kernel")
        let error = try #require(throws: ComposeKernelError.self) { _ = try builder.build(plan, output: output) }
        let text = error.description
        #expect(text.hasPrefix("kernel build failed (make exit"), "\(text)")
        #expect(text.contains("-fguestkit-no-such-option"), "\(text)")
        let logPath = try #require(text.split(separator: "\n").last.flatMap { $0.hasPrefix("full log: ") ? String($0.dropFirst(10)) : nil })
        #expect(FileManager.default.fileExists(atPath: logPath))
        let tail = text.split(separator: "\n", omittingEmptySubsequences: false).dropFirst().dropLast()
        #expect(tail.count <= 40 && tail.count > 0)
        #expect(!FileManager.default.fileExists(atPath: output.path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == [])
    }
}

/// compose-guest's kernel commands as a user runs them: clear errors, exit codes, nothing half-written.
@Suite
struct KernelCommandTests {
    init() throws {
        try #require(FileManager.default.isExecutableFile(atPath: BuiltProducts.path("compose-guest")), "needs the built compose-guest")
    }

    static let tool = BuiltProducts.path("compose-guest")

    @Test func unknownProfileIsAClearError() throws {
        let scratch = try ScratchDirectory("cli")
        let result = try Command.run([Self.tool, "kernel-config", "--vmm", "qemu,qemu-mircovm", "-o", scratch.file("c")])
        #expect(!result.succeeded)
        #expect(result.stderr.contains("unknown VMM profile 'qemu-mircovm' (did you mean qemu-microvm?)"), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("c")))
    }

    @Test func withoutATreeTheRequestIsWrittenUnvalidated() throws {
        let scratch = try ScratchDirectory("cli")
        let result = try Command.run([Self.tool, "kernel-config", "--vmm", "qemu-microvm", "--without", "network", "-o", scratch.file("c")])
        #expect(result.succeeded, "\(result)")
        #expect(result.stdout.contains("unvalidated"))
        let text = try String(contentsOfFile: scratch.file("c"), encoding: .utf8)
        #expect(text.contains("UNVALIDATED") && text.contains("CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES=y"))
        #expect(!text.contains("CONFIG_NETFILTER=y"))
    }

    @Test func missingSourceTreeIsAClearError() throws {
        let scratch = try ScratchDirectory("cli")
        let result = try Command.run([Self.tool, "kernel", "--source", scratch.file("no-such-tree"), "-o", scratch.file("k")])
        #expect(!result.succeeded)
        #expect(result.stderr.contains("does not exist; pass --source DIR or --debian-source"), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("k")))
    }

    @Test func droppedOptionFailsAndWritesNothing() throws {
        try #require(RealTree.available, "needs /usr/src/linux-source-*.tar.xz (make deps) or GUESTKIT_KERNEL_SOURCE")
        _ = try RealTree.source.get()  // unpacked once, shared with the other tests
        let scratch = try ScratchDirectory("cli")
        try "# a typo\nCONFIG_VIRTIO_BLOK=y\n".write(toFile: scratch.file("typo.conf"), atomically: true, encoding: .utf8)
        let arguments = [Self.tool, "kernel-config", "--vmm", "kvmtool", "--with", scratch.file("typo.conf"), "--debian-source",
                         "--cache-dir", RealTree.cache.path, "-o", scratch.file("c")]
        let linux = try RealTree.name()
        let result = try Command.run(arguments)
        #expect(!result.succeeded)
        #expect(result.stderr.contains("typo.conf:2: CONFIG_VIRTIO_BLOK=y dropped: no such symbol in \(linux); did you mean CONFIG_VIRTIO_BLK?"), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: scratch.file("c")))
        let allowed = try Command.run(arguments + ["--allow-dropped"])
        #expect(allowed.succeeded, "\(allowed)")
        #expect(try String(contentsOfFile: scratch.file("c"), encoding: .utf8).contains("CONFIG_VIRTIO_BLK=y"))
    }
}
