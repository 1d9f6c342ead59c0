// `guestkit-bench kernel`: per VMM profile the `=y` count, bzImage and vmlinux sizes and build time
// of the trimmed kernel, beside Debian's cloud kernel (`=y` + `=m`, vmlinuz size). Profiles are built
// through the same cache as `make kernel`, so only the first run pays for the builds. Prints figures,
// asserts nothing.
import ArgumentParser
import ComposeKernel
import Foundation
import HostProcess

struct KernelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernel", abstract: "Kernel figures per VMM profile beside Debian's cloud kernel.")

    @Option(help: "Cache shared with `compose-guest kernel` (make kernel uses out/kernel-cache).")
    var cacheDir: String = "out/kernel-cache"

    @Option(help: "Debian's unpacked cloud kernel (make debian-kernel): config, vmlinuz, release.")
    var debianKernel: String = "out/debian-kernel"

    @Option(help: "Profiles to report, comma-separated.")
    var profiles = "all,firecracker,cloud-hypervisor,qemu-microvm,qemu,kvmtool"

    @Flag(help: "Only configure (=y counts); report sizes only for kernels already in the cache.")
    var noBuild = false

    func run() throws {
        let cache = URL(fileURLWithPath: cacheDir)
        let library = try FragmentLibrary.locate()
        let source = try KernelSource.debian(cache: cache, patches: library.patches())
        let x86 = try KernelConfigurator(source: source, arch: .x86_64, cache: cache)
        let names = profiles.split(separator: ",").map(String.init)
        print("kernel: \(source.name) from \(source.identity); goals for `all`: <= 1000 =y, bzImage <= 3 MiB")
        print(row("profile", "=y", "=m", "bzImage", "vmlinux", "build"))
        var allFigures: (builtIn: Int, bzImage: Int64?)?
        for name in names {
            let plan = try library.plan(arch: .x86_64, profiles: [name])
            let builder = KernelBuilder(configurator: x86)
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("guestkit-bench-\(name)-\(getpid())")
            defer { try? FileManager.default.removeItem(at: scratch) }
            if noBuild {
                let resolved = try x86.resolve(plan)
                if let kernel = try builder.cached(plan) {
                    print(row(name, "\(kernel.builtIn)", "\(kernel.modules)", mib(kernel.bootImageBytes), mib(kernel.vmlinuxBytes),
                              formatDuration(kernel.buildSeconds) + (kernel.fromScratch ? "" : " (incremental)")))
                } else {
                    print(row(name, "\(resolved.config.builtInCount)", "\(resolved.config.moduleCount)", "-", "-", "not built"))
                }
                if name == "all" { allFigures = (resolved.config.builtInCount, try builder.cached(plan)?.bootImageBytes) }
                continue
            }
            FileHandle.standardError.write(Data("kernel-bench: \(name) (built once, then cached)\n".utf8))
            let (kernel, _) = try builder.build(plan, output: scratch)
            let time = formatDuration(kernel.buildSeconds) + (kernel.fromScratch ? "" : " (incremental)")
            print(row(name, "\(kernel.builtIn)", "\(kernel.modules)", mib(kernel.bootImageBytes), mib(kernel.vmlinuxBytes), time))
            if name == "all" { allFigures = (kernel.builtIn, kernel.bootImageBytes) }
        }
        try compressionTable(x86, library)
        // arm64: configuration only (no cross compiler here), for the one kernel that boots everywhere.
        let arm = try KernelConfigurator(source: source, arch: .arm64, cache: cache)
        let armConfig = try arm.resolve(try library.plan(arch: .arm64, profiles: ["all"])).config
        print(row("all (arm64)", "\(armConfig.builtInCount)", "\(armConfig.moduleCount)", "-", "-", "config only"))
        try debianRow()
        if let allFigures {
            let count = allFigures.builtIn <= 1000 ? "met" : "MISSED"
            var line = "goals: all =y \(allFigures.builtIn) <= 1000: \(count)"
            if let bytes = allFigures.bzImage {
                line += "; bzImage \(mib(bytes)) <= 3 MiB: \(bytes <= 3 << 20 ? "met" : "MISSED")"
            }
            print(line)
        }
    }

    /// The `all` kernel's payload (arch/x86/boot/compressed/vmlinux.bin, what the bzImage carries compressed)
    /// through each compressor the kernel offers, with the options its Makefile uses: size, and the median of 5
    /// decompressions on this host (one core). The boot-time cost under TCG is in docs/density.md.
    private func compressionTable(_ configurator: KernelConfigurator, _ library: FragmentLibrary) throws {
        let objects = KernelBuilder(configurator: configurator).objectDirectory(try library.plan(arch: .x86_64, profiles: ["all"]))
        let payload = objects.appendingPathComponent("arch/x86/boot/compressed/vmlinux.bin").path
        guard FileManager.default.fileExists(atPath: payload) else {
            print("compression: \(payload) not built yet (make kernel)")
            return
        }
        let compressors: [(name: String, compress: [String], decompress: [String])] = [
            ("zstd -22 (configured)", ["zstd", "-22", "--ultra", "-T1", "-c"], ["zstd", "-d", "-c"]),
            ("xz", ["xz", "--check=crc32", "--x86", "--lzma2=dict=32MiB", "-T1", "-c"], ["xz", "-d", "-c"]),
            ("gzip -9", ["gzip", "-9", "-c"], ["gzip", "-d", "-c"]),
            ("lz4 -9", ["lz4", "-l", "-9", "-c"], ["lz4", "-d", "-c"]),
        ]
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("guestkit-bench-compress-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        print("compression of the `all` payload (\(mib(fileSize(payload))) uncompressed): size, host decompression (median of 5)")
        for compressor in compressors {
            let packed = scratch + "." + compressor.compress[0]
            var pack = ChildCommand(compressor.compress[0], Array(compressor.compress.dropFirst()) + [payload])
            pack.output = .file(packed, append: false)
            pack.error = .null
            guard (try? pack.run(timeout: .seconds(600)))?.succeeded == true else {
                print("  \(compressor.name): \(compressor.compress[0]) not available")
                continue
            }
            defer { try? FileManager.default.removeItem(atPath: packed) }
            var times: [Double] = []
            for _ in 0..<5 {
                var unpack = ChildCommand(compressor.decompress[0], Array(compressor.decompress.dropFirst()) + [packed])
                unpack.output = .null
                unpack.error = .null
                let start = ContinuousClock.now
                _ = try? unpack.run(timeout: .seconds(120))
                let took = ContinuousClock.now - start
                times.append(Double(took.components.seconds) * 1000 + Double(took.components.attoseconds) / 1e15)
            }
            print("  " + compressor.name.padding(toLength: 24, withPad: " ", startingAt: 0) + mib(fileSize(packed)).padding(toLength: 12, withPad: " ", startingAt: 0)
                  + String(format: "%6.0f ms", times.sorted()[2]))
        }
    }

    private func fileSize(_ path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
    }

    private func debianRow() throws {
        let directory = URL(fileURLWithPath: debianKernel)
        guard let text = try? String(contentsOf: directory.appendingPathComponent("config"), encoding: .utf8) else {
            print("debian cloud kernel: not unpacked (run make debian-kernel)")
            return
        }
        let config = DotConfig(text: text)
        let release = (try? String(contentsOf: directory.appendingPathComponent("release"), encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        let vmlinuz = (try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("vmlinuz").path))?[.size] as? NSNumber
        print(row("debian \(release)", "\(config.builtInCount)", "\(config.moduleCount)",
                  vmlinuz.map { mib($0.int64Value) + " vmlinuz" } ?? "-", "-", "packaged"))
        print("debian cloud kernel: \(config.builtInCount + config.moduleCount) options =y or =m")
    }

    private func row(_ columns: String...) -> String {
        let widths = [28, 6, 6, 18, 12, 20]
        return zip(columns, widths).map { $0.padding(toLength: max($1, $0.count), withPad: " ", startingAt: 0) }.joined(separator: " ")
    }

    private func mib(_ bytes: Int64) -> String { String(format: "%.2f MiB", Double(bytes) / 1_048_576) }

    private func formatDuration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        return "\(whole / 60)m\(String(format: "%02d", whole % 60))s"
    }
}
