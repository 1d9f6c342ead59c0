// `compose-guest image` and `compose-guest launch`: parse options, call ComposeImage and GuestLaunch,
// print results. Errors go up to ComposeGuest.main, which prefixes them.
import ArgumentParser
import ComposeImage
import Foundation
import GuestLaunch
import HostProcess
import Logging

struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Bake a guest rootfs image (ext4, erofs or initramfs) and its manifest with launch settings.",
        discussion: """
            Installs --init as /sbin/init (and /init in an initramfs) and --agent as /sbin/guest-agent, with every \
            shared library they need, over the rootfs/ skeleton. Writes PATH and PATH.manifest.json. \
            With SOURCE_DATE_EPOCH set, two runs give byte-identical files.
            """)

    @Option(help: "guest-init executable, installed as /sbin/init.") var `init`: String?
    @Option(help: "guest-agent executable, installed as /sbin/guest-agent.") var agent: String?
    @Option(name: .customLong("add"), help: "Copy a host file or directory into the guest (SRC:DST, repeatable).")
    var additions: [String] = []
    @Option(help: "A base rootfs under the guest's files: a directory, a tar (.tar, .tar.gz, .tar.zst) or an OCI image layout.")
    var base: String?
    @Option(help: "Kernel modules tree: lib/modules/<release>, or a directory holding one (e.g. out/debian-kernel).")
    var modulesFrom: String?
    @Option(help: "Modules to install with their dependencies, comma-separated (needs --modules-from).")
    var modules: String?
    @Option(help: "ext4, erofs or initramfs (default ext4).") var format: String?
    @Flag(help: "DAX-ready: size a multiple of 2 MiB, 4 KiB blocks, uncompressed.") var dax = false
    @Flag(help: "Prefix Kata's 2 MiB NVDIMM header (MBR, PFN info block); the filesystem starts at 3 MiB.")
    var daxHeader = false
    @Option(help: "ext4/erofs image size, e.g. 64M (default: fitted to the content).") var size: String?
    @Option(help: "initramfs: gzip (default), zstd or none; erofs: none (default), lz4 or lz4hc.") var compression: String?
    @Flag(help: "Give the ext4 filesystem a journal (default: none; the root is read-only).") var journal = false
    @Flag(help: "Strip symbols and debug sections from the installed init and agent (the host files stay as they are).")
    var strip = false
    @Option(name: .customLong("kernel"), help: "A kernel to record in the manifest for launch settings (bzImage, vmlinux; repeatable).")
    var kernels: [String] = []
    @Option(help: "A directory holding bzImage and/or vmlinux (e.g. out/kernel).") var kernelDir: String?
    @Option(help: "Skeleton directory with skeleton.list (default: the repository's rootfs/, or $GUESTKIT_ROOTFS).")
    var skeleton: String?
    @Option(help: "A guest.yaml spec; flags given here override it.") var spec: String?
    @Option(name: .shortAndLong, help: "The image to write; the manifest goes to PATH.manifest.json.") var output: String?
    @Option(help: "Launch default: guest memory in MiB (256).") var memory: Int?
    @Option(help: "Launch default: vCPUs (1).") var vcpus: Int?
    @Option(help: "Launch default: guest vsock CID (3).") var cid: UInt32?
    @Option(help: "Launch default: vsock transport: bridge (vhost-user + guest-vsock-bridge), vhost, or none.") var vsock: String?
    @Option(help: "Launch default: the hybrid vsock Unix socket (default PATH.vsock).") var vsockPath: String?
    @Option(help: "Launch default: QEMU accelerator, tcg or kvm (tcg).") var accel: String?
    @Option(name: .customLong("guest-option"), help: "Add guest.KEY=VALUE to the kernel command line (repeatable).")
    var guestOptions: [String] = []
    @Option(name: .customLong("append"), help: "Append a kernel parameter verbatim (repeatable).") var appends: [String] = []
    @Flag(name: .shortAndLong, help: "Log each step.") var verbose = false

    func run() throws {
        do {
            var spec = try self.spec.map { try SpecFile.load(path: $0) } ?? ImageSpec()
            if let value = self.`init` { spec.initPath = value }
            if let agent { spec.agentPath = agent }
            spec.additions += try additions.map(ImageSpec.Addition.parse)
            if let base { spec.base = base }
            if let modulesFrom { spec.modulesFrom = modulesFrom }
            if let modules { spec.modules = modules.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            if let format {
                guard let value = ImageSpec.Format(rawValue: format) else {
                    throw ComposeError.badOption("--format \(format): expected ext4, erofs or initramfs")
                }
                spec.format = value
            }
            if dax { spec.dax = true }
            if daxHeader { spec.daxHeader = true }
            if let size {
                guard let value = ByteCount.parse(size) else { throw ComposeError.badOption("--size \(size): expected e.g. 64M, 1G or a byte count") }
                spec.size = value
            }
            if let compression { spec.compression = compression }
            if journal { spec.journal = true }
            if strip { spec.strip = true }
            spec.kernels += kernels
            if let kernelDir { spec.kernelDir = kernelDir }
            if let skeleton { spec.skeleton = skeleton }
            if let output { spec.output = output }
            if let memory { spec.launch.memoryMiB = memory }
            if let vcpus { spec.launch.vcpus = vcpus }
            if let cid { spec.launch.guestCID = cid }
            if let vsock { spec.launch.vsock = vsock }
            if let vsockPath { spec.launch.vsockPath = vsockPath }
            if let accel { spec.launch.accel = accel }
            spec.launch.guestOptions += guestOptions
            spec.launch.extraCmdline += appends

            var logger = Logger(label: "compose-guest.image")
            logger.logLevel = verbose ? .info : .warning
            let result = try ImageComposer(spec: spec, logger: logger, launchSections: ManifestLaunchWriter()).compose()
            let image = result.manifest.image
            print("\(result.imagePath): \(image.format), \(image.size) bytes, sha256 \(image.sha256)")
            print("\(result.manifestPath)")
        } catch let error as ComposeError {
            throw commandFailure("image", "\(error)")
        }
    }
}

struct LaunchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "launch",
        abstract: "Print the command (or Firecracker config) that boots a composed image.",
        discussion: """
            qemu, cloud-hypervisor, kvmtool and vsock-bridge print one shell-quoted command line (--output json: \
            a JSON array of argv); firecracker prints its --config-file JSON. Paths are taken from the manifest, \
            the image from beside it.
            """)

    @Option(help: "qemu, firecracker, cloud-hypervisor, kvmtool, or vsock-bridge (the backend QEMU's vhost-user-vsock needs).")
    var vmm: String
    @Option(help: "The image's manifest (PATH.manifest.json).") var manifest: String
    @Option(help: "QEMU machine: q35 (virtio-pmem root, DAX) or microvm (virtio-blk root).") var machine: String = "q35"
    @Option(name: .customLong("output"), help: "shell (default) or json.") var outputFormat: String = "shell"
    @Option(help: "Override the kernel recorded in the manifest.") var kernel: String?
    @Option(help: "Boot this initramfs first (e.g. one with a stock kernel's virtio/pmem modules); disk images only.")
    var initrd: String?
    @Option(help: "Override: guest memory in MiB.") var memory: Int?
    @Option(help: "Override: vCPUs.") var vcpus: Int?
    @Option(help: "Override: guest vsock CID.") var cid: UInt32?
    @Option(help: "Override: vsock transport (bridge, vhost, none).") var vsock: String?
    @Option(help: "Override: hybrid vsock Unix socket path.") var vsockPath: String?
    @Option(help: "Override: QEMU accelerator (tcg, kvm).") var accel: String?
    @Option(name: .customLong("append"), help: "Append a kernel parameter (repeatable).") var appends: [String] = []
    @Flag(help: "The kernel's whole log on the console (default: quiet).") var kernelLog = false
    @Flag(name: .customLong("no-free-page-reporting"), help: "No virtio-balloon free page reporting device.") var noFreePageReporting = false

    func run() throws {
        do {
            var overrides = LaunchOverrides()
            if kernelLog { overrides.kernelLog = true }
            if noFreePageReporting { overrides.freePageReporting = false }
            overrides.memoryMiB = memory
            overrides.vcpus = vcpus
            overrides.guestCID = cid
            overrides.vsock = vsock
            overrides.vsockPath = vsockPath
            overrides.accel = accel
            overrides.appends = appends
            overrides.kernel = kernel
            overrides.initrd = initrd
            let planner = try LaunchPlanner.load(manifestPath: manifest, overrides: overrides)
            let target: LaunchTarget
            switch vmm {
            case "qemu":
                guard let type = QemuMachineType(rawValue: machine) else {
                    throw ComposeError.badOption("--machine \(machine): expected q35 or microvm")
                }
                target = type.target
            case "cloud-hypervisor": target = .cloudHypervisor
            case "kvmtool": target = .kvmtool
            case "firecracker": target = .firecracker
            case "vsock-bridge":
                try printArgv(planner.vsockBridge())
                return
            default:
                throw ComposeError.badOption("--vmm \(vmm): expected qemu, firecracker, cloud-hypervisor, kvmtool or vsock-bridge")
            }
            for note in planner.virtualMachine(for: target).notes {
                FileHandle.standardError.write(Data("compose-guest launch: note: \(note)\n".utf8))
            }
            switch target {
            case .qemuQ35, .qemuMicrovm: try printArgv(planner.qemu(machine: target == .qemuQ35 ? .q35 : .microvm))
            case .cloudHypervisor: try printArgv(try planner.cloudHypervisor())
            case .kvmtool: try printArgv(try planner.kvmtool())
            case .firecracker:
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(planner.firecracker()), as: UTF8.self))
            }
        } catch let error as ComposeError {
            throw commandFailure("launch", "\(error)")
        } catch let error as LaunchError {
            throw commandFailure("launch", "\(error)")
        }
    }

    func printArgv(_ argv: [String]) throws {
        switch outputFormat {
        case "shell": print(ShellQuoting.line(argv))
        case "json":
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(argv), as: UTF8.self))
        default: throw ComposeError.badOption("--output \(outputFormat): expected shell or json")
        }
    }
}
