import Foundation
import GuestSys
@testable import GuestInit

/// What PID 1 reads before anything else: the kernel command line (split as the kernel does) and the
/// guest.* options, its own argv as the kernel passes it, the agent's control lines, and the mount tables
/// it reads from /proc. A trap here is a kernel panic, so nothing may trap, and the options must come out
/// within their documented ranges.
enum KernelCommandLineHarness {
    static func run(_ input: FuzzInput) {
        var input = input
        let mode = input.byte()
        let bytes = input.rest()
        let text = String(decoding: bytes, as: UTF8.self)

        for parameter in KernelCommandLine.parameters(text) {
            fuzzCheck(parameter.key != "--" || parameter.value != nil || text.contains("\"--"), "parsing went past an unquoted --")
        }
        let options = BootOptions(commandLine: text)
        fuzzCheck(options.rootWaitMilliseconds <= BootOptions.maximumWaitMilliseconds, "root_wait over the maximum")
        fuzzCheck(options.shutdownGraceMilliseconds <= BootOptions.maximumWaitMilliseconds, "shutdown_grace over the maximum")
        fuzzCheck(options.agentPort > 0 && options.agentPort < UInt32.max, "agent port \(options.agentPort)")
        fuzzCheck(options.agentPath.hasPrefix("/"), "agent path \(options.agentPath) is not absolute")
        _ = GuestInit.describe(options)
        _ = Clock.monotonicDeadline(afterMilliseconds: options.rootWaitMilliseconds)
        _ = DurationText.seconds(options.shutdownGraceMilliseconds)
        if let root = options.root { _ = RootSpec(root.description) }

        // Init's argv as the kernel hands it over: words split at NUL.
        let arguments = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        switch InvocationRequest.parse(arguments, asPID1: true) {
        case .boot: break
        default: fatalError("as PID 1, arguments \(arguments) made guest-init do something other than boot")
        }
        _ = InvocationRequest.parse(arguments, asPID1: false)

        // The agent's control channel, in chunks.
        var decoder = ControlLineDecoder()
        let chunk = Int(mode % 32) + 1
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + chunk, bytes.count)
            for message in decoder.feed(Array(bytes[offset..<end])) {
                if case .unknown(let line) = message {
                    // Each byte decodes to at most one scalar (invalid UTF-8 becomes U+FFFD).
                    fuzzCheck(line.unicodeScalars.count <= ControlLineDecoder.maximumLine + 64, "an unknown line longer than the limit")
                }
            }
            offset = end
        }

        // /proc/self/mounts and /proc/self/mountinfo as the kernel might write them (or a corrupt one).
        _ = UnmountPlan.order(MountEntry.parseTable(text))
        _ = MountPlan.missing(from: MountEntry.parseTable(text))
        _ = Confinement.decide(pid: 1, pidNamespace: 4_026_532_100, utsNamespace: nil, mountInfo: text)
        let root = RootReport.current(table: MountEntry.parseTable(text), kernelRoot: options.kernelRoot)
        // boot.json carries what the mount table and the kernel said: it must stay valid JSON.
        var timeline = BootTimeline()
        timeline.record(.initStarted, at: UInt64(bytes.count))
        let json = timeline.json(initVersion: GuestInit.version, kernelRelease: text, root: root, agentRestarts: Int(mode))
        fuzzCheck((try? JSONSerialization.jsonObject(with: Data(json.utf8))) != nil, "boot.json is not JSON: \(json)")
    }

    static var seeds: [[UInt8]] {
        [
            "console=ttyS0 root=/dev/pmem0 rootfstype=ext4 rootflags=dax ro guest.agent=/sbin/guest-agent guest.agent_port=1024",
            "guest.root=LABEL=guestroot guest.dax=always guest.overlay=tmpfs guest.modules=virtio_pci,nd_pmem guest.log=debug",
            "guest.root_wait=2.5 guest.shutdown_grace=500ms guest.boot_timer=firecracker guest.boot_timer_addr=0xd0000000",
            "\"guest.hostname=a b\" guest.rescue guest.root=\"UUID=ABCD-1234\" -- --help junk",
            "guest.root_wait=99999999999999999 guest.shutdown_grace=18446744073709551.999 guest.agent_port=4294967295",
            "23 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n24 23 0:5 / /dev rw,nosuid - devtmpfs udev rw\n",
            "/dev/root / ext4 ro,dax 0 0\nproc /proc proc rw 0 0\ntmpfs /run\\040x tmpfs rw 0 0\n",
            "READY\nPOWEROFF\r\nREBOOT\nsomething else\n",
        ].enumerated().map { index, text in [UInt8(index * 7)] + Array(text.utf8) }
    }
}
