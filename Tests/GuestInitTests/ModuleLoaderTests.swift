import Foundation
import GuestInit
import GuestTestSupport
import Testing

/// libkmod against Debian's real cloud-kernel module tree (`make debian-kernel`), checked against
/// kmod's own `modprobe --show-depends`. Nothing is inserted: that is for the guest VM.
@Suite
struct ModuleLoaderTests {
    init() throws {
        try #require(DebianModules.directory != nil, "needs out/debian-kernel (make debian-kernel)")
    }

    let directory = DebianModules.directory ?? "/nonexistent"
    let release = DebianModules.release ?? ""

    /// What modprobe would insmod, as paths, in order (no host configuration: -C /dev/null).
    private func modprobeOrder(_ name: String) throws -> [String] {
        let root = URL(fileURLWithPath: directory).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let result = try Command.run(["modprobe", "-d", root, "-S", release, "-C", "/dev/null", "--show-depends", name])
        try #require(result.succeeded, "\(result)")
        return result.stdout.split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ")
            return words.first == "insmod" && words.count >= 2 ? String(words[1]) : nil
        }
    }

    private func loader() throws -> ModuleLoader {
        try ModuleLoader(directory: directory, configurationPaths: [])
    }

    @Test(arguments: ["virtio_pmem", "vmw_vsock_virtio_transport", "nd_pmem", "virtio_pci", "fs-erofs", "fs-overlay"])
    func resolvesLikeModprobe(name: String) throws {
        let steps = try loader().resolve(name)
        #expect(steps.compactMap(\.path) == (try modprobeOrder(name)))
    }

    @Test func virtioPmemChain() throws {
        let names = try loader().resolve("virtio_pmem").map(\.name)
        #expect(names.last == "virtio_pmem")
        let position = { (name: String) in names.firstIndex(of: name) ?? Int.max }
        #expect(position("virtio") < position("virtio_pmem"))
        #expect(position("virtio_ring") < position("virtio"))
        #expect(position("libnvdimm") < position("virtio_pmem"))
    }

    @Test func vsockTransportChain() throws {
        let names = try loader().resolve("vmw_vsock_virtio_transport").map(\.name)
        #expect(names.last == "vmw_vsock_virtio_transport")
        #expect(names.contains("vsock"))
        #expect(names.firstIndex(of: "vmw_vsock_virtio_transport_common")! > names.firstIndex(of: "vsock")!)
    }

    @Test func aliasesAndSoftDependencies() throws {
        // fs-erofs is an alias; erofs needs libcrc32c, whose soft dependency pulls a crc32c driver in first.
        let names = try loader().resolve("fs-erofs").map(\.name)
        #expect(names.last == "erofs")
        #expect(names.firstIndex(of: "libcrc32c")! < names.firstIndex(of: "erofs")!)
        #expect(names.count >= 3)
    }

    @Test func builtinModulesHaveNoFile() throws {
        #expect(try loader().resolve("ext4") == [ModuleStep(name: "ext4", path: nil)])
    }

    @Test func missingModuleIsNamed() throws {
        let error = #expect(throws: ModuleError.self) { try loader().resolve("no_such_module_guestkit") }
        #expect(error == .notFound(name: "no_such_module_guestkit", directory: directory))
        #expect(error?.description.contains("no_such_module_guestkit") == true)
    }
}

@Suite struct ModuleListTests {
    @Test func missingTreeIsAClearError() {
        let error = #expect(throws: ModuleError.self) { try ModuleLoader(directory: "/nonexistent/lib/modules/0") }
        #expect(error?.description.contains("/nonexistent/lib/modules/0") == true)
    }

    @Test(arguments: [
        ("virtio_pmem\n# comment\n; other comment\n\n  nd_pmem  \nvsock # trailing\n", ["virtio_pmem", "nd_pmem", "vsock"]),
        ("", []),
    ])
    func parsesModulesLoadD(text: String, expected: [String]) {
        #expect(ModuleList.parse(text) == expected)
    }

    @Test func commandLineFirstThenFilesInNameOrderEachOnce() throws {
        let scratch = try ScratchDirectory("modules-load")
        try "b_second\nshared\n".write(toFile: scratch.file("20-b.conf"), atomically: true, encoding: .utf8)
        try "a_first\n".write(toFile: scratch.file("10-a.conf"), atomically: true, encoding: .utf8)
        try "ignored\n".write(toFile: scratch.file("notes.txt"), atomically: true, encoding: .utf8)
        #expect(ModuleList.collect(commandLine: ["virtio-pmem", "shared"], configurationDirectory: scratch.path)
            == ["virtio-pmem", "shared", "a_first", "b_second"])
        #expect(ModuleList.collect(commandLine: [], configurationDirectory: scratch.file("absent")) == [])
    }

    @Test func filesystemsFromProc() {
        let known = ModuleList.filesystems("nodev\tsysfs\nnodev\ttmpfs\n\text4\n\terofs\n")
        #expect(known == ["sysfs", "tmpfs", "ext4", "erofs"])
    }
}

/// Debian's cloud-kernel modules unpacked by `make debian-kernel` (GUESTKIT_DEBIAN_KERNEL, or out/ of
/// this checkout).
enum DebianModules {
    static var kernelDirectory: String? {
        let candidates: [String?] = [ProcessInfo.processInfo.environment["GUESTKIT_DEBIAN_KERNEL"],
                          BuiltProducts.packageRoot.appendingPathComponent("out/debian-kernel").path]
        return candidates.compactMap { $0 }.first { FileManager.default.fileExists(atPath: $0 + "/release") }
    }

    static var release: String? {
        guard let kernelDirectory else { return nil }
        return (try? String(contentsOfFile: kernelDirectory + "/release", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static var directory: String? {
        guard let kernelDirectory, let release else { return nil }
        return kernelDirectory + "/lib/modules/" + release
    }
}
