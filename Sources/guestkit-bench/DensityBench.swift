// `guestkit-bench density`: what N guests of the default image cost the host, with the rootfs on virtio-pmem
// with DAX and then the same image on virtio-blk, in one run. Per guest, after every agent answered, each
// guest read every file of its rootfs once and all of them idled:
// - guest RAM the host backs: the resident pages of QEMU's guest-RAM mapping (the memfd backend `mem`,
//   `/memfd:mem` in /proc/PID/smaps);
// - QEMU's own resident memory: its total Rss less that mapping and less its mapping of the rootfs image
//   (the pmem backend maps the file: those pages are the host's page cache, counted once below), plus
//   guest-vsock-bridge's, likewise less guest RAM;
// - the host page cache the rootfs image holds (fincore), shared by all N guests.
// Then free page reporting: one guest fills and empties 64 MiB of tmpfs, and the bench shows how much of it
// the host got back. And the exec round trip in a guest over the bridge (TCG), for comparison with the native
// figure of `guestkit-bench agent`.
// Robustness with 2 cores: guests boot in waves of --concurrent-boots, a wave starting once the previous one's
// agents answered; every guest gets --boot-deadline. Goals: ≤ 20 MiB guest RAM per idle DAX guest, and the
// DAX total well under virtio-blk's. Prints figures, asserts nothing.
import ArgumentParser
import ComposeImage
import Foundation
import GuestClient
import GuestLaunch
import GuestProto
import GuestSys
import HostProcess

struct DensityBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "density", abstract: "Host memory of N idle guests: DAX root on virtio-pmem vs the same image on virtio-blk.")

    @Option(help: "Directory with rootfs.img(.manifest.json) (make guest-image).") var guestDir: String
    @Option(help: "Guests booted at once.") var guests: Int = 8
    @Option(help: "Guest memory in MiB.") var memory: Int = 128
    @Option(help: "Guests booting at the same time (a wave); the next wave starts once these answer.") var concurrentBoots: Int = 2
    @Option(help: "Seconds each guest may take from QEMU start until its agent answers.") var bootDeadline: Int = 600
    @Option(help: "Seconds the guests idle after the workload before the figures are read.") var idle: Int = 20
    @Option(help: "MiB the free-page-reporting check fills and frees.") var reportingMebibytes: Int = 64
    @Option(help: "Exec round trips timed in the first guest.") var execs: Int = 100
    @Option(help: "Scratch directory for sockets and consoles (short: Unix socket paths).") var scratch: String = "/tmp/gk-density"
    @Option(name: .customLong("append"), help: "Append a kernel parameter for every guest (repeatable; e.g. page_reporting.page_reporting_order=5).")
    var appends: [String] = []

    func validate() throws {
        guard guests >= 1, concurrentBoots >= 1, memory >= 64 else {
            throw ValidationError("--guests and --concurrent-boots must be ≥ 1, --memory ≥ 64")
        }
    }

    func run() throws {
        let manifest = guestDir + "/rootfs.img.manifest.json"
        let planner = try LaunchPlanner.load(manifestPath: manifest)
        let image = planner.imagePath
        print("density: \(guests) guests of \(image) (\(mib(planner.image.size)) MiB \(planner.image.format)), \(memory) MiB each, TCG;"
              + " boots in waves of \(concurrentBoots), \(idle) s idle; MiB")
        let dax = try measure(manifest: manifest, image: image, onBlockDevice: false)
        let block = try measure(manifest: manifest, image: image, onBlockDevice: true)
        report(dax: dax, block: block)
    }

    // MARK: One run of N guests

    struct GuestFigures {
        var guestRAM: UInt64
        /// QEMU's and the bridge's own memory (Pss), TCG's translation buffer apart.
        var qemuOwn: UInt64
        var translationBuffer: UInt64
        var imageMapping: UInt64
        var bootSeconds: Double
    }

    struct RunFigures {
        var title: String
        var guests: [GuestFigures]
        var imagePageCache: UInt64
        var reporting: ReportingFigures?
        var execMilliseconds: [Double]
        /// What the host holds for the N guests: guest RAM, VMM memory (TCG's buffer included) and the image's cache.
        var total: UInt64 { guests.reduce(0) { $0 + $1.guestRAM + $1.qemuOwn + $1.translationBuffer } + imagePageCache }
    }

    struct ReportingFigures {
        var before: UInt64
        var filled: UInt64
        var after: UInt64
        var returned: UInt64 { filled - min(filled, after) }
    }

    final class BootedGuest {
        let guest: RunningGuest
        let client: GuestClient
        let bootSeconds: Double
        init(guest: RunningGuest, client: GuestClient, bootSeconds: Double) {
            self.guest = guest
            self.client = client
            self.bootSeconds = bootSeconds
        }
    }

    func measure(manifest: String, image: String, onBlockDevice: Bool) throws -> RunFigures {
        let title = onBlockDevice ? "virtio-blk (page cache)" : "virtio-pmem with DAX"
        try dropPageCache(image)
        var booted: [BootedGuest] = []
        defer { for guest in booted { guest.guest.stop() } }
        let directory = URL(fileURLWithPath: scratch).standardizedFileURL.path + (onBlockDevice ? "/blk" : "/dax")
        for wave in stride(from: 0, to: guests, by: concurrentBoots) {
            let indices = wave..<min(wave + concurrentBoots, guests)
            let started = try indices.map { index in
                var request = BootRequest(manifestPath: manifest, runDirectory: directory)
                request.name = "g\(index)"
                request.accelerator = .tcg
                request.maximumLifetime = .seconds(bootDeadline + 1800)
                request.overrides.memoryMiB = memory
                request.overrides.guestCID = UInt32(3 + index)
                request.overrides.rootOnBlockDevice = onBlockDevice
                request.overrides.appends = appends
                return try RunningGuest(request)
            }
            for guest in started {
                let (client, snapshot) = try guest.connectAgent(timeout: .seconds(bootDeadline))
                booted.append(BootedGuest(guest: guest, client: client, bootSeconds: seconds(snapshot.answeredAfter)))
            }
            FileHandle.standardError.write(Data("density: \(title): \(booted.count)/\(guests) guests answer\n".utf8))
        }
        for (index, guest) in booted.enumerated() {
            let exit = try run(guest.client, ["sh", "-c", "find / -xdev -type f -exec cat {} + > /dev/null"])
            if exit != 0 { print("  warning: g\(index): reading every file exited \(exit)") }
        }
        Thread.sleep(forTimeInterval: Double(idle))
        let figures = try booted.map { guest in
            let memory = try QemuMemory(pid: guest.guest.qemuPID, imagePath: image)
            // The bridge maps the same guest RAM (not counted twice); its own pages count with QEMU's.
            let bridge = try guest.guest.bridgePID.map { try QemuMemory(pid: $0, imagePath: image).own } ?? 0
            return GuestFigures(guestRAM: memory.guestRAM, qemuOwn: memory.other + bridge, translationBuffer: memory.translationBuffer,
                                imageMapping: memory.imageMapping, bootSeconds: guest.bootSeconds)
        }
        let pageCache = try imagePageCache(image)
        var execTimes: [Double] = []
        var reporting: ReportingFigures?
        if let first = booted.first {
            var request = Guestkit_V1_StartProcessRequest()
            request.args = ["true"]
            for _ in 0..<5 { _ = try roundTrip(first.client, request) }
            execTimes = try (0..<execs).map { _ in try roundTrip(first.client, request) }
            reporting = try freePageReporting(first)
        }
        for guest in booted { _ = try? guest.guest.shutdown(guest.client, timeout: .seconds(120)) }
        return RunFigures(title: title, guests: figures, imagePageCache: pageCache, reporting: reporting, execMilliseconds: execTimes)
    }

    /// Fills a fresh tmpfs with `reportingMebibytes`, reads guest RAM, empties it, and reads guest RAM again once
    /// the figure stops falling (free page reporting works in 2 MiB blocks, a few seconds after the free).
    func freePageReporting(_ guest: BootedGuest) throws -> ReportingFigures {
        let pid = guest.guest.qemuPID
        let mount = "/run/gk-density-fill"
        let before = try QemuMemory(pid: pid, imagePath: nil).guestRAM
        let fill = "mkdir -p \(mount) && mount -t tmpfs -o size=\(reportingMebibytes + 16)m gk-density \(mount)"
            + " && head -c \(reportingMebibytes << 20) /dev/zero > \(mount)/fill"
        let filledExit = try run(guest.client, ["sh", "-c", fill])
        if filledExit != 0 { print("  warning: filling \(reportingMebibytes) MiB of tmpfs exited \(filledExit)") }
        let filled = try QemuMemory(pid: pid, imagePath: nil).guestRAM
        _ = try run(guest.client, ["sh", "-c", "rm -f \(mount)/fill && umount \(mount)"])
        // The guest reports 2 s after a free at the earliest (PAGE_REPORTING_DELAY), longer under TCG: read for at
        // least 15 s, then until the figure has not fallen for 5 s (at most a minute).
        var after = filled
        var stable = 0
        for second in 1...60 {
            Thread.sleep(forTimeInterval: 1)
            let now = try QemuMemory(pid: pid, imagePath: nil).guestRAM
            stable = now >= after ? stable + 1 : 0
            after = min(after, now)
            if second >= 15 && stable >= 5 { break }
        }
        return ReportingFigures(before: before, filled: filled, after: after)
    }

    // MARK: Host-side readings

    /// A VMM process's memory from /proc/PID/smaps: guest RAM (resident pages of the memfd backend `mem`), its
    /// mapping of the rootfs image (resident pages of the pmem backend), TCG's translation buffer (anonymous
    /// executable mappings: emulation only, absent under KVM) and the rest. The rest is counted by Pss, so
    /// the pages N QEMUs share (their binary, libraries) add up to one copy over N guests, not N.
    struct QemuMemory {
        var guestRAM: UInt64 = 0
        var imageMapping: UInt64 = 0
        var translationBuffer: UInt64 = 0
        var other: UInt64 = 0
        var own: UInt64 { translationBuffer + other }

        init(pid: pid_t, imagePath: String?) throws {
            let text = try FileSystem.readText("/proc/\(pid)/smaps")
            enum Kind { case guestRAM, image, translation, other }
            var kind = Kind.other
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ", omittingEmptySubsequences: true)
                guard let first = words.first else { continue }
                if !first.hasSuffix(":"), first.contains("-"), words.count >= 5 {
                    // A mapping header: address perms offset dev inode [path…]
                    let path = words.count > 5 ? words[5...].joined(separator: " ") : ""
                    if path.hasPrefix("/memfd:mem") { kind = .guestRAM }
                    else if let imagePath, path == imagePath { kind = .image }
                    else if path.isEmpty && words[1].contains("x") { kind = .translation }
                    else { kind = .other }
                    continue
                }
                guard words.count >= 2, let kib = UInt64(words[1]) else { continue }
                let bytes = kib * 1024
                switch (first, kind) {
                case ("Rss:", .guestRAM): guestRAM += bytes
                case ("Rss:", .image): imageMapping += bytes
                case ("Rss:", .translation): translationBuffer += bytes
                case ("Pss:", .other): other += bytes
                default: break
                }
            }
        }
    }

    /// Drops the image's pages from the host page cache (posix_fadvise DONTNEED through dd), so each run starts cold.
    func dropPageCache(_ image: String) throws {
        var command = ChildCommand("dd", ["if=\(image)", "iflag=nocache", "count=0", "status=none"])
        command.error = .capture
        let result = try command.run(timeout: .seconds(60))
        if !result.succeeded { print("  warning: dd could not drop the page cache of \(image): \(result.stderr)") }
    }

    /// Bytes of the image in the host page cache (util-linux fincore).
    func imagePageCache(_ image: String) throws -> UInt64 {
        var command = ChildCommand("fincore", ["--bytes", "--noheadings", "--output", "RES", image])
        command.output = .capture
        command.error = .capture
        let result = try command.run(timeout: .seconds(60))
        guard result.succeeded, let bytes = UInt64(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ValidationError("fincore \(image) failed: \(result.stderr)\(result.stdout) (util-linux's fincore is needed)")
        }
        return bytes
    }

    // MARK: Guest-side calls

    /// Runs argv in the guest without stdio and returns its exit code (128 + signal when killed).
    func run(_ client: GuestClient, _ argv: [String]) throws -> Int32 {
        var request = Guestkit_V1_StartProcessRequest()
        request.args = argv
        let started = try client.startProcess(request)
        return try client.wait(started.id).shellCode
    }

    func roundTrip(_ client: GuestClient, _ request: Guestkit_V1_StartProcessRequest) throws -> Double {
        let start = ContinuousClock.now
        let started = try client.startProcess(request)
        _ = try client.wait(started.id)
        return seconds(ContinuousClock.now - start) * 1000
    }

    // MARK: Report

    func report(dax: RunFigures, block: RunFigures) {
        for run in [dax, block] {
            print("  \(run.title): per guest (boot = QEMU start → agent answers, s)")
            print("    guest   guest RAM   VMM own (Pss)   TCG buffer   image mapped   boot")
            for (index, guest) in run.guests.enumerated() {
                print("    g\(index)".padding(toLength: 9, withPad: " ", startingAt: 0)
                      + mib(guest.guestRAM).leftPad(9) + mib(guest.qemuOwn).leftPad(16) + mib(guest.translationBuffer).leftPad(13)
                      + mib(guest.imageMapping).leftPad(15) + String(format: "%7.1f", guest.bootSeconds))
            }
        }
        func median(_ values: [UInt64]) -> UInt64 { values.sorted()[values.count / 2] }
        print("  side by side (MiB)" + "DAX (pmem)".leftPad(41) + "virtio-blk".leftPad(13) + "DAX / blk".leftPad(12))
        func row(_ name: String, _ a: UInt64, _ b: UInt64) {
            print("    " + name.padding(toLength: 44, withPad: " ", startingAt: 0) + mib(a).leftPad(11) + mib(b).leftPad(13)
                  + (b == 0 ? "        -" : String(format: "%12.2f", Double(a) / Double(b))))
        }
        row("guest RAM per guest (median)", median(dax.guests.map(\.guestRAM)), median(block.guests.map(\.guestRAM)))
        row("QEMU + bridge own (Pss) per guest (median)", median(dax.guests.map(\.qemuOwn)), median(block.guests.map(\.qemuOwn)))
        row("guest RAM, \(guests) guests", dax.guests.reduce(0) { $0 + $1.guestRAM }, block.guests.reduce(0) { $0 + $1.guestRAM })
        row("QEMU + bridge own, \(guests) guests", dax.guests.reduce(0) { $0 + $1.qemuOwn }, block.guests.reduce(0) { $0 + $1.qemuOwn })
        row("TCG translation buffers, \(guests) guests", dax.guests.reduce(0) { $0 + $1.translationBuffer },
            block.guests.reduce(0) { $0 + $1.translationBuffer })
        row("rootfs page cache (host, shared)", dax.imagePageCache, block.imagePageCache)
        row("host total, \(guests) guests", dax.total, block.total)
        let withoutTCG = { (run: RunFigures) in run.total - run.guests.reduce(0) { $0 + $1.translationBuffer } }
        row("host total without TCG buffers (as KVM)", withoutTCG(dax), withoutTCG(block))
        let perGuest = median(dax.guests.map(\.guestRAM))
        print("  goals: DAX guest RAM per idle guest \(mib(perGuest)) ≤ 20 MiB: \(perGuest <= 20 << 20 ? "met" : "MISSED");"
              + String(format: " DAX total / virtio-blk total %.2f (goal: well under 1)", Double(dax.total) / Double(max(block.total, 1))))
        for run in [dax, block] {
            if let r = run.reporting {
                print("  free page reporting (\(run.title), g0): guest RAM \(mib(r.before)) → \(mib(r.filled)) with \(reportingMebibytes) MiB"
                      + " filled → \(mib(r.after)) after the free: the host got back \(mib(r.returned)) MiB of \(reportingMebibytes)")
            }
            if !run.execMilliseconds.isEmpty {
                let sorted = run.execMilliseconds.sorted()
                let p99 = sorted[min(sorted.count - 1, sorted.count * 99 / 100)]
                print(String(format: "  exec round trip in the guest over the bridge (%@, TCG, %d runs): p50 %.2f ms, p99 %.2f ms",
                             run.title as NSString, sorted.count, sorted[sorted.count / 2], p99))
            }
        }
    }

    func mib(_ bytes: UInt64) -> String { String(format: "%.1f", Double(bytes) / 1_048_576) }

    func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
