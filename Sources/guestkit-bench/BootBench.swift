// Boot figures of the composed guest, in one run and side by side:
// - QEMU start → first successful exec (host wall time) and kernel start → agent ready (guest
//   CLOCK_BOOTTIME, from init's timeline) for our kernel and for Debian's cloud kernel (which boots the
//   stock way: an initramfs with its modules, then switch_root to the same rootfs), with their ratio;
// - the guest's memory after reading every file of the rootfs once, with the rootfs on virtio-pmem with DAX
//   and on virtio-blk without it (the DAX guest should cache close to nothing of the rootfs);
// - guest-init and guest-agent private dirty memory inside the guest.
// Goals: our boot-to-agent-ready ≤ 0.25× Debian's; init + agent ≤ 8 MiB. Prints figures, asserts nothing.
import ArgumentParser
import ComposeImage
import Foundation
import GuestLaunch
import GuestClient
import GuestProto
import GuestSys

struct BootBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot", abstract: "Boot the composed guest: boot times (ours vs Debian's kernel), DAX memory, init + agent memory.")

    @Option(help: "Directory with rootfs.img(.manifest.json) and debian-initramfs.cpio.gz (make guest-image).")
    var guestDir: String
    @Option(help: "Debian's cloud kernel (vmlinuz); the comparison is skipped without it.") var debianKernel: String?
    @Option(help: "Boots per kernel (medians are printed).") var runs: Int = 5
    @Option(help: "auto, kvm or tcg.") var accel: String = "auto"
    @Option(help: "Scratch directory for sockets and consoles (short: Unix socket paths).") var scratch: String = "/tmp/gk-bench-boot"

    struct BootSample {
        var toFirstExec: Double
        var agentReady: Double
        var initStarted: Double
    }

    func run() throws {
        guard let choice = AcceleratorChoice(rawValue: accel) else { throw ValidationError("--accel: expected auto, kvm or tcg") }
        let manifest = guestDir + "/rootfs.img.manifest.json"
        print("boot: image \(guestDir)/rootfs.img, \(runs) boots per kernel, medians; times in ms")

        // With Debian's kernel the boots alternate, ours then Debian's: a slow spell of the host (TCG guests
        // swing by a third from boot to boot here) then lands on both sides of the ratio, not on one.
        var debianOverrides: LaunchOverrides?
        if let debianKernel {
            var overrides = LaunchOverrides()
            overrides.kernel = debianKernel
            overrides.initrd = guestDir + "/debian-initramfs.cpio.gz"
            overrides.appends = ["guest.root=LABEL=guestroot"]
            debianOverrides = overrides
        }
        var ours: [BootSample] = []
        var debian: [BootSample] = []
        for index in 0..<runs {
            ours.append(try bootOnce(manifest, choice, name: "ours-\(index)"))
            if let debianOverrides { debian.append(try bootOnce(manifest, choice, name: "debian-\(index)", debianOverrides)) }
        }
        report("our kernel (q35, bzImage, DAX root on virtio-pmem)", ours)
        if !debian.isEmpty {
            report("Debian cloud kernel (q35, initramfs + modules, switch_root to the DAX root)", debian)
            let ratio = median(ours.map(\.agentReady)) / median(debian.map(\.agentReady))
            print(String(format: "  kernel start → agent ready, ours / Debian's: %.2f (goal ≤ 0.25)", ratio))
        }

        print("boot: memory after reading every file of the rootfs once (MiB)")
        let dax = try memoryAfterReadingEverything(manifest, choice, onBlockDevice: false)
        let block = try memoryAfterReadingEverything(manifest, choice, onBlockDevice: true)
        print("  root                                  MemAvailable   Cached (before → after)")
        for (name, figures) in [("virtio-pmem, DAX", dax), ("virtio-blk, page cache", block)] {
            print("  \(name.padding(toLength: 36, withPad: " ", startingAt: 0)) \(mib(figures.after.available).leftPad(8))"
                  + "   \(mib(figures.before.cached)) → \(mib(figures.after.cached))")
        }
        print("  rootfs read: \(mib(dax.bytesRead)) MiB; cache growth DAX \(mib(dax.after.cached - min(dax.after.cached, dax.before.cached))) MiB vs "
              + "page cache \(mib(block.after.cached - min(block.after.cached, block.before.cached))) MiB")
        print(String(format: "boot: guest-init %.0f KiB + guest-agent %.0f KiB private dirty = %.2f MiB (goal ≤ 8 MiB)",
                     Double(dax.initDirty) / 1024, Double(dax.agentDirty) / 1024, Double(dax.initDirty + dax.agentDirty) / 1_048_576))
    }

    func request(_ manifest: String, _ choice: AcceleratorChoice, name: String, _ overrides: LaunchOverrides) -> BootRequest {
        var request = BootRequest(manifestPath: manifest, runDirectory: scratch)
        request.accelerator = choice
        request.overrides = overrides
        request.name = name
        request.maximumLifetime = .seconds(600)
        return request
    }

    func bootOnce(_ manifest: String, _ choice: AcceleratorChoice, name: String, _ overrides: LaunchOverrides = .init()) throws -> BootSample {
        let guest = try RunningGuest(request(manifest, choice, name: name, overrides))
        defer { guest.stop() }
        let (client, snapshot) = try guest.connectAgent(timeout: .seconds(300))
        var request = Guestkit_V1_StartProcessRequest()
        request.args = ["true"]
        let started = try client.startProcess(request)
        _ = try client.wait(started.id)
        let firstExec = ContinuousClock.now - guest.startedAt
        let sample = BootSample(toFirstExec: milliseconds(firstExec),
                                agentReady: Double(snapshot.stage("agent_ready") ?? 0) / 1e6,
                                initStarted: Double(snapshot.stage("init_started") ?? 0) / 1e6)
        print(String(format: "  %@ (%@): first exec %.0f, init started %.0f, agent ready %.0f", name as NSString,
                     guest.accelerator as NSString, sample.toFirstExec, sample.initStarted, sample.agentReady))
        _ = try? guest.shutdown(client, timeout: .seconds(60))
        return sample
    }

    func report(_ title: String, _ samples: [BootSample]) {
        print("  \(title):")
        print(String(format: "    QEMU start → first exec (host) %.0f; kernel start → init %.0f; → agent ready (guest) %.0f",
                     median(samples.map(\.toFirstExec)), median(samples.map(\.initStarted)), median(samples.map(\.agentReady))))
    }

    struct MemInfo {
        var available: UInt64 = 0
        var cached: UInt64 = 0

        init(_ text: String) {
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ", omittingEmptySubsequences: true)
                guard words.count >= 2, let kib = UInt64(words[1]) else { continue }
                if words[0] == "MemAvailable:" { available = kib * 1024 }
                if words[0] == "Cached:" { cached = kib * 1024 }
            }
        }
    }

    struct MemoryFigures {
        var before: MemInfo
        var after: MemInfo
        var bytesRead: UInt64
        var initDirty: UInt64
        var agentDirty: UInt64
    }

    func memoryAfterReadingEverything(_ manifest: String, _ choice: AcceleratorChoice, onBlockDevice: Bool) throws -> MemoryFigures {
        var overrides = LaunchOverrides()
        overrides.rootOnBlockDevice = onBlockDevice
        let guest = try RunningGuest(request(manifest, choice, name: onBlockDevice ? "blk" : "dax", overrides))
        defer { guest.stop() }
        let (client, _) = try guest.connectAgent(timeout: .seconds(300))
        func output(_ args: [String]) throws -> String {
            var request = Guestkit_V1_StartProcessRequest()
            request.args = args
            request.stdout = true
            let started = try client.startProcess(request)
            let out = try client.attach(started.id, .stdout)
            defer { out.closeQuietly() }
            let bytes = try out.readToEnd(limit: 16 << 20)
            _ = try client.wait(started.id)
            return String(decoding: bytes, as: UTF8.self)
        }
        let before = MemInfo(try output(["cat", "/proc/meminfo"]))
        let read = try output(["sh", "-c", "find / -xdev -type f -exec cat {} + | wc -c"])
        let after = MemInfo(try output(["cat", "/proc/meminfo"]))
        let agentPid = try output(["pidof", "guest-agent"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let initDirty = privateDirty(try output(["cat", "/proc/1/smaps_rollup"]))
        let agentDirty = privateDirty(try output(["cat", "/proc/\(agentPid)/smaps_rollup"]))
        _ = try? guest.shutdown(client, timeout: .seconds(60))
        return MemoryFigures(before: before, after: after, bytesRead: UInt64(read.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0,
                             initDirty: initDirty, agentDirty: agentDirty)
    }

    func privateDirty(_ smaps: String) -> UInt64 {
        smaps.split(separator: "\n").filter { $0.hasPrefix("Private_Dirty:") }
            .compactMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { UInt64($0) } }
            .reduce(0, +) * 1024
    }

    func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    func mib(_ bytes: UInt64) -> String { String(format: "%.1f", Double(bytes) / 1_048_576) }
}

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
