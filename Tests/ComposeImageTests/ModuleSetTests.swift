// Modules from Debian's real cloud kernel (out/debian-kernel, `make debian-kernel`): the image carries exactly
// what modprobe says the named modules need, and depmod's indexes work when modprobe reads the image.
import ComposeImage
import Foundation
import GuestTestSupport
import Testing

enum DebianKernel {
    static var directory: String? {
        guard let dir = ProcessInfo.processInfo.environment["GUESTKIT_DEBIAN_KERNEL"],
              FileManager.default.fileExists(atPath: dir + "/release") else { return nil }
        return dir
    }
    static var release: String {
        (try? String(contentsOfFile: (directory ?? "") + "/release", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }
}

@Suite
struct ModuleSetTests {
    init() throws {
        try #require(DebianKernel.directory != nil && ImageTest.productsBuilt, "needs GUESTKIT_DEBIAN_KERNEL (make debian-kernel) and built products")
    }

    static let wanted = ["virtio_pmem", "vmw_vsock_virtio_transport"]

    @Test func installsTheModulesAndTheirDependencies() throws {
        let kernel = try #require(DebianKernel.directory)
        let release = DebianKernel.release
        // What modprobe itself says these modules need (insmod lines, dependencies first).
        var expected: Set<String> = []
        for name in Self.wanted {
            let out = try Command.run(["modprobe", "-d", kernel, "-S", release, "--show-depends", name])
            #expect(out.succeeded, "\(out)")
            for line in out.stdout.split(separator: "\n") where line.hasPrefix("insmod ") {
                let path = String(line.split(separator: " ")[1])
                expected.insert(String(path[path.range(of: "/lib/modules/\(release)/")!.upperBound...]))
            }
        }
        #expect(expected.count >= 4)

        let scratch = try ScratchDirectory("gk-modules")
        let image = scratch.file("guest.img")
        try ImageTest.composeDefault(["--modules-from", kernel, "--modules", Self.wanted.joined(separator: ","), "-o", image])
        let root = scratch.file("root")
        try ImageTest.extract(image, format: "ext4", into: root)
        let modulesDir = root + "/lib/modules/\(release)"
        var found: Set<String> = []
        let walker = try #require(FileManager.default.enumerator(atPath: modulesDir))
        for case let relative as String in walker where relative.contains(".ko") { found.insert(relative) }
        #expect(found == expected)
        let alias = try String(contentsOfFile: modulesDir + "/modules.alias", encoding: .utf8)
        #expect(alias.contains(" virtio_pmem\n"))
        // modprobe reading the image's own modules.dep/modules.dep.bin resolves the same chain.
        let inImage = try Command.run(["modprobe", "-d", root, "-S", release, "--show-depends", "virtio_pmem"])
        #expect(inImage.succeeded, "\(inImage)")
        #expect(inImage.stdout.contains("\(root)/lib/modules/\(release)/kernel/drivers/nvdimm/libnvdimm.ko"))
        let load = try String(contentsOfFile: root + "/etc/modules-load.d/guestkit.conf", encoding: .utf8)
        #expect(load.split(separator: "\n").last == "vmw_vsock_virtio_transport")
        let contents = try #require(try ImageTest.manifest(image)["contents"] as? [String: Any])
        #expect(contents["kernelRelease"] as? String == release)
        let order = try #require(contents["modules"] as? [String])
        #expect(order.firstIndex(of: "libnvdimm")! < order.firstIndex(of: "virtio_pmem")!)
    }

    @Test func unknownModuleIsAnError() throws {
        let kernel = try #require(DebianKernel.directory)
        let scratch = try ScratchDirectory("gk-badmodule")
        let result = try ImageTest.compose(["image", "--init", ImageTest.guestInit, "--modules-from", kernel,
                                            "--modules", "virtio_pmem,no_such_module", "-o", scratch.file("g.img")])
        #expect(!result.succeeded)
        #expect(result.stderr.contains("no module no_such_module"), "\(result.stderr)")
    }
}
