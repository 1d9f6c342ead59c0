// The manifest written beside every image as `<image>.manifest.json`: what was built (artifacts with size and
// sha256), how the guest is laid out (format, DAX, where the filesystem starts, root device), the launch
// defaults, and the kernel command line per VMM and ready-made launch settings, which GuestLaunch computes
// (ComposeImage stores them as it is given them). `compose-guest launch` and `boot` read it back.
import Foundation

/// `<image>.manifest.json`.
public struct ImageManifest: Codable, Sendable, Equatable {
    public static let schemaName = "guestkit.image.v1"

    /// Always "guestkit.image.v1".
    public var schema: String = schemaName
    public var image: ImageInfo
    /// Kernels given at compose time (bzImage, vmlinux, vmlinuz), with size and sha256.
    public var kernels: [Artifact]
    public var contents: Contents
    /// Launch defaults used for `cmdline` and `launch` (launch can override them).
    public var settings: LaunchOptions
    /// Kernel command line per launch target: qemu-q35, qemu-microvm, firecracker, cloud-hypervisor, kvmtool.
    public var cmdline: [String: String]
    /// Launch settings per VMM as GuestLaunch wrote them (qemuQ35, qemuMicrovm, cloudHypervisor, kvmtool,
    /// vsockBridge: argv arrays; firecracker: its config object; notes: placeholders in them).
    public var launch: JSONValue

    public init(image: ImageInfo, kernels: [Artifact], contents: Contents, settings: LaunchOptions,
                cmdline: [String: String], launch: JSONValue) {
        self.image = image
        self.kernels = kernels
        self.contents = contents
        self.settings = settings
        self.cmdline = cmdline
        self.launch = launch
    }

    /// The image file and its layout.
    public struct ImageInfo: Codable, Sendable, Equatable {
        /// File name, relative to the manifest's directory.
        public var file: String
        /// "ext4", "erofs" or "initramfs".
        public var format: String
        public var size: UInt64
        public var sha256: String
        /// Filesystem UUID (ext4, erofs).
        public var uuid: String?
        /// Filesystem label (ext4).
        public var label: String?
        /// Initramfs compression ("gzip", "zstd", "none") or erofs compression.
        public var compression: String?
        /// Size is a multiple of 2 MiB and the filesystem has 4 KiB blocks.
        public var dax: Bool
        /// The file starts with Kata's 2 MiB NVDIMM prefix (MBR, PFN info block, MBR).
        public var daxHeader: Bool
        /// Byte offset of the filesystem in the file (0, or 3 MiB with the prefix).
        public var filesystemOffset: UInt64
        /// Byte offset of the PFN device's data (2 MiB with the prefix), if any.
        public var pfnDataOffset: UInt64?
        /// The guest's root device on a pmem attachment and on a virtio-blk attachment (nil for initramfs).
        public var rootDevicePmem: String?
        public var rootDeviceBlock: String?
        /// SOURCE_DATE_EPOCH (or the build time) stamped on every file.
        public var sourceDateEpoch: Int64

        public init(file: String, format: String, size: UInt64, sha256: String, uuid: String?, label: String?,
                    compression: String?, dax: Bool, daxHeader: Bool, filesystemOffset: UInt64, pfnDataOffset: UInt64?,
                    rootDevicePmem: String?, rootDeviceBlock: String?, sourceDateEpoch: Int64) {
            self.file = file
            self.format = format
            self.size = size
            self.sha256 = sha256
            self.uuid = uuid
            self.label = label
            self.compression = compression
            self.dax = dax
            self.daxHeader = daxHeader
            self.filesystemOffset = filesystemOffset
            self.pfnDataOffset = pfnDataOffset
            self.rootDevicePmem = rootDevicePmem
            self.rootDeviceBlock = rootDeviceBlock
            self.sourceDateEpoch = sourceDateEpoch
        }
    }

    /// One file with its digest.
    public struct Artifact: Codable, Sendable, Equatable {
        /// Absolute path at compose time.
        public var path: String
        /// "bzImage", "vmlinux" (ELF, PVH entry) or "vmlinuz".
        public var kind: String
        public var size: UInt64
        public var sha256: String

        public init(path: String, kind: String, size: UInt64, sha256: String) {
            self.path = path
            self.kind = kind
            self.size = size
            self.sha256 = sha256
        }
    }

    /// What the image holds.
    public struct Contents: Codable, Sendable, Equatable {
        public var initPath: String
        public var agentPath: String?
        /// Guest paths of the shared libraries and loader installed for the closure.
        public var libraries: [String]
        /// Kernel modules installed (load order, dependencies first) and their kernel release.
        public var modules: [String]
        public var kernelRelease: String?
        /// Number of entries (files, directories, links, nodes) in the image.
        public var entries: Int
    }

    /// Reads a manifest, naming the file in errors.
    public static func read(path: String) throws -> ImageManifest {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ComposeError.unreadableInput(role: "manifest", path: path, reason: "missing or unreadable")
        }
        do { return try JSONDecoder().decode(ImageManifest.self, from: data) } catch {
            throw ComposeError.unreadableInput(role: "manifest", path: path, reason: "not a GuestKit manifest: \(error)")
        }
    }

    /// Pretty, key-sorted JSON (stable across runs).
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(self)
        data.append(0x0a)
        return data
    }
}
