// From a manifest on disk to a LaunchPlanner: the image beside it, the kernels it records, and the
// overrides a caller gives (`compose-guest launch`, `compose-guest boot`, benchmarks). One place, so the
// printed command and the booted one are the same. And the other way: the `cmdline` and `launch`
// sections `compose-guest image` writes into a new manifest.
import ComposeImage
import Foundation

/// What a caller may change of the launch settings a manifest records.
public struct LaunchOverrides: Sendable, Equatable {
    public var memoryMiB: Int?
    public var vcpus: Int?
    public var guestCID: UInt32?
    /// bridge, vhost or none.
    public var vsock: String?
    public var vsockPath: String?
    /// tcg or kvm.
    public var accel: String?
    /// Kernel parameters appended verbatim.
    public var appends: [String] = []
    /// A kernel to boot instead of the manifest's (a bzImage/vmlinuz or an ELF vmlinux).
    public var kernel: String?
    /// An initramfs booted before a disk root.
    public var initrd: String?
    /// Attach the root as virtio-blk even when the image is DAX-ready.
    public var rootOnBlockDevice = false
    /// true: the kernel's whole log on the console instead of `quiet`.
    public var kernelLog: Bool?
    /// false: no free page reporting balloon.
    public var freePageReporting: Bool?

    public init() {}
}

extension LaunchPlanner {
    /// The planner for the manifest at `manifestPath` with `overrides` applied; relative paths are taken
    /// from the current directory.
    public static func load(manifestPath: String, overrides: LaunchOverrides = .init()) throws -> LaunchPlanner {
        let manifest = try ImageManifest.read(path: manifestPath)
        var options = manifest.settings
        if let memory = overrides.memoryMiB { options.memoryMiB = memory }
        if let vcpus = overrides.vcpus { options.vcpus = vcpus }
        if let cid = overrides.guestCID { options.guestCID = cid }
        if let vsock = overrides.vsock {
            guard LaunchOptions.vsockModes.contains(vsock) else {
                throw ComposeError.badOption("--vsock \(vsock): expected bridge, vhost or none")
            }
            options.vsock = vsock
        }
        if let path = overrides.vsockPath { options.vsockPath = absolute(path) }
        if let accel = overrides.accel {
            guard ["tcg", "kvm"].contains(accel) else { throw ComposeError.badOption("--accel \(accel): expected tcg or kvm") }
            options.accel = accel
        }
        options.extraCmdline += overrides.appends
        if let kernelLog = overrides.kernelLog { options.kernelLog = kernelLog }
        if let reporting = overrides.freePageReporting { options.freePageReporting = reporting }
        var kernels = manifest.kernels
        if let kernel = overrides.kernel {
            // Not required to exist here: a launch line may be printed for another machine.
            let path = absolute(kernel)
            kernels = [.init(path: path, kind: ELFFile.hasMagic(path: path) ? "vmlinux" : "bzImage", size: 0, sha256: "")]
        }
        let manifestURL = URL(fileURLWithPath: absolute(manifestPath)).standardizedFileURL
        let imagePath = manifestURL.deletingLastPathComponent().appendingPathComponent(manifest.image.file).path
        var planner = LaunchPlanner(image: manifest.image, imagePath: imagePath, kernels: kernels, options: options,
                                    agentPath: manifest.contents.agentPath, initrd: overrides.initrd.map(absolute))
        planner.rootOnBlockDevice = overrides.rootOnBlockDevice
        planner.kernelChosenByCaller = overrides.kernel != nil
        return planner
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}

/// Writes a new manifest's `cmdline` (per target) and `launch` sections: QEMU q35 and microvm,
/// Cloud Hypervisor, kvmtool and guest-vsock-bridge argv arrays, Firecracker's config object, and
/// `notes` for every placeholder in them.
public struct ManifestLaunchWriter: LaunchSectionWriter {
    public init() {}

    public func sections(for manifest: ImageManifest, imagePath: String) throws -> LaunchSections {
        let planner = LaunchPlanner(image: manifest.image, imagePath: imagePath, kernels: manifest.kernels,
                                    options: manifest.settings, agentPath: manifest.contents.agentPath)
        let cmdline = Dictionary(uniqueKeysWithValues: LaunchTarget.allCases.map { ($0.rawValue, planner.cmdline(for: $0)) })
        var launch: [String: JSONValue] = [
            "qemuQ35": .strings(planner.qemu(machine: .q35)),
            "qemuMicrovm": .strings(planner.qemu(machine: .microvm)),
            "firecracker": try JSONValue(encoding: planner.firecracker()),
            "cloudHypervisor": .strings(try planner.cloudHypervisor()),
            "kvmtool": .strings(try planner.kvmtool()),
            "vsockBridge": .strings(planner.vsockBridge()),
        ]
        let notes = planner.notes()
        if !notes.isEmpty { launch["notes"] = .strings(notes) }
        return LaunchSections(cmdline: cmdline, launch: .object(launch))
    }
}
