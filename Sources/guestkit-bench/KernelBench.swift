// `guestkit-bench kernel`: per VMM profile the `=y` count, bzImage and vmlinux sizes and build time
// of the trimmed kernel, beside Debian's cloud kernel (`=y` + `=m`, vmlinuz size). Profiles are built
// through the same cache as `make kernel`, so only the first run pays for the builds. Prints figures,
// asserts nothing.
import ArgumentParser
import ComposeKernel
import Foundation

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
        let source = try KernelSource.debian(cache: cache)
        let x86 = try KernelConfigurator(source: source, arch: .x86_64, cache: cache)
        let names = profiles.split(separator: ",").map(String.init)
        print("kernel: \(source.name) from \(source.identity); goals for `all`: <= 1000 =y, bzImage <= 4 MiB")
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
        // arm64: configuration only (no cross compiler here), for the one kernel that boots everywhere.
        let arm = try KernelConfigurator(source: source, arch: .arm64, cache: cache)
        let armConfig = try arm.resolve(try library.plan(arch: .arm64, profiles: ["all"])).config
        print(row("all (arm64)", "\(armConfig.builtInCount)", "\(armConfig.moduleCount)", "-", "-", "config only"))
        try debianRow()
        if let allFigures {
            let count = allFigures.builtIn <= 1000 ? "met" : "MISSED"
            var line = "goals: all =y \(allFigures.builtIn) <= 1000: \(count)"
            if let bytes = allFigures.bzImage {
                line += "; bzImage \(mib(bytes)) <= 4 MiB: \(bytes <= 4 << 20 ? "met" : "MISSED")"
            }
            print(line)
        }
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
