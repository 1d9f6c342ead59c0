// ComposeImage bakes what a VMM boots besides the kernel: a guest root filesystem (ext4, erofs or a newc
// initramfs) holding guest-init, guest-agent, their shared-library closure, optional kernel modules, a base
// rootfs and extra files, laid out for DAX if asked; and beside it a manifest with digests, the layout and
// launch defaults. It runs without root and without loop mounts, and with SOURCE_DATE_EPOCH set two runs
// give byte-identical files. The work is done by the real filesystem tools (mke2fs, debugfs, mkfs.erofs,
// depmod, gzip, zstd), driven from here through HostProcess.
// Its parts, one folder each: Spec (the recipe and guest.yaml), Tree (the guest tree being assembled and
// the skeleton), BaseImage (directories, tar archives, OCI layouts), Modules (kernel module sets), ELF
// (the reader and the shared-library closure), Formats (ext4, erofs, initramfs, the DAX layout), Manifest.
// It leaves to others: building kernels (ComposeKernel), what init and the agent do at boot, and how each
// VMM is invoked (GuestLaunch, which also fills the manifest's command lines and launch settings through
// LaunchSectionWriter).
import ContentHash
import Foundation
import GuestSys
import HostProcess
import Logging

/// What one composition produced.
public struct ComposeResult: Sendable {
    public let imagePath: String
    public let manifestPath: String
    public let manifest: ImageManifest
    public let warnings: [String]
}

/// Composes an image from an `ImageSpec`: the recipe is skeleton, base, modules, init and agent with their
/// libraries, additions, then the format writer, the DAX layout, and the manifest.
public struct ImageComposer {
    public var spec: ImageSpec
    public var logger: Logger
    /// The loader search path used for library closures (the host's by default).
    public var libraryClosure: LibraryClosure
    /// Where scratch work happens (a fresh subdirectory is made and removed).
    public var scratchBase: String
    /// Fills the manifest's `cmdline` and `launch` sections; without one they are empty.
    public var launchSections: (any LaunchSectionWriter)?

    public init(spec: ImageSpec, logger: Logger = Logger(label: "compose-guest.image"),
                libraryClosure: LibraryClosure = LibraryClosure(), scratchBase: String = NSTemporaryDirectory(),
                launchSections: (any LaunchSectionWriter)? = nil) {
        self.spec = spec
        self.logger = logger
        self.libraryClosure = libraryClosure
        self.scratchBase = scratchBase
        self.launchSections = launchSections
    }

    /// The build time: SOURCE_DATE_EPOCH if set (it must be a non-negative integer), else now.
    public static func epoch(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Int64 {
        guard let text = environment["SOURCE_DATE_EPOCH"], !text.isEmpty else { return Int64(Date().timeIntervalSince1970) }
        guard let value = Int64(text), value >= 0, value <= Int64(UInt32.max) else {
            throw ComposeError.badOption("SOURCE_DATE_EPOCH=\(text) is not a number of seconds since 1970")
        }
        return value
    }

    public func compose() throws -> ComposeResult {
        let plan = try validate()
        let epoch = try Self.epoch()
        let scratch = scratchBase.joinedPath("guestkit-compose-\(getpid())-\(UUID().uuidString.prefix(8))")
        do { try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true) } catch {
            throw ComposeError.io(operation: "create scratch directory", path: scratch, reason: error.localizedDescription)
        }
        // Ctrl-C or SIGTERM while composing: the scratch directory and any partial output go (the
        // signal's relay runs this after the tools it passed the signal to have ended).
        let output = plan.output
        let outputDir = (output as NSString).deletingLastPathComponent
        let partial = outputDir.joinedPath(".\((output as NSString).lastPathComponent).partial-\(getpid())")
        let manifestPartial = partial + ".manifest"
        let cleanup = TerminationSignals.onTermination {
            for path in [partial, manifestPartial] { try? FileManager.default.removeItem(atPath: path) }
            RootTree.removeStaging(scratch.joinedPath("tree"))
            try? FileManager.default.removeItem(atPath: scratch)
        }
        defer { TerminationSignals.cancel(cleanup) }
        let tree: RootTree
        do { tree = try RootTree(staging: scratch.joinedPath("tree")) } catch {
            try? FileManager.default.removeItem(atPath: scratch)
            throw error
        }
        defer {
            tree.discard()
            try? FileManager.default.removeItem(atPath: scratch)
        }
        if spec.format == .initramfs { tree.fileSizeLimit = (Initramfs.maximumFileSize, "an initramfs (newc cpio)") }
        var warnings: [String] = []

        // 1. Skeleton, then the base over it (a user's base wins over our defaults).
        try Skeleton(directory: spec.skeleton ?? Skeleton.defaultDirectory).apply(to: tree)
        if let base = spec.base {
            logger.info("applying base \(base)")
            warnings += try BaseImage(path: base).apply(to: tree, scratch: scratch)
        }
        // 2. Kernel modules with their dependencies.
        var modulesInstalled: [String] = []
        var kernelRelease: String?
        if let from = spec.modulesFrom {
            let set = try ModuleSet(directory: from)
            let result = try set.install(spec.modules, into: tree)
            modulesInstalled = result.loadOrder
            kernelRelease = set.release
        }
        // 3. init, agent and additions, then the library closure of every dynamic ELF among them.
        var roots: [LibraryClosure.Root] = []
        try tree.addFile(ImageSpec.initGuestPath, copying: plan.initPath, permissions: 0o755)
        roots.append(.init(hostPath: plan.initPath, guestPath: ImageSpec.initGuestPath, role: "--init"))
        if let agent = plan.agentPath {
            if Self.sameFile(agent, plan.initPath) {
                // One multi-call binary (guest-init-agent) for both: the agent is a link to init, not a second copy.
                try tree.addSymlink(ImageSpec.agentGuestPath, target: (ImageSpec.initGuestPath as NSString).lastPathComponent)
            } else {
                try tree.addFile(ImageSpec.agentGuestPath, copying: agent, permissions: 0o755)
                roots.append(.init(hostPath: agent, guestPath: ImageSpec.agentGuestPath, role: "--agent"))
            }
        }
        if spec.strip {
            for root in roots {
                try ImageTool.run("strip", ["--strip-unneeded", tree.stagingPath(try tree.canonicalPath(root.guestPath))])
            }
        }
        for addition in spec.additions {
            roots += try add(addition, to: tree)
        }
        for link in spec.links { try tree.addSymlink(link.path, target: link.target) }
        if !modulesInstalled.isEmpty {
            // guest-init opens libkmod with dlopen (no DT_NEEDED), so it comes only with modules to load.
            let kmod = try Self.hostLibrary(Self.moduleLibrary, in: libraryClosure.searchPath, hostRoot: libraryClosure.hostRoot)
            try tree.addFile(kmod.guestPath, copying: kmod.hostPath, permissions: 0o755)
            roots.append(.init(hostPath: kmod.hostPath, guestPath: kmod.guestPath, role: "module loader"))
        }
        let libraries = try libraryClosure.resolve(roots)
        for library in libraries {
            let attributes = try? FileManager.default.attributesOfItem(atPath: library.hostPath)
            let mode = (attributes?[.posixPermissions] as? Int) ?? 0o755
            try tree.addFile(library.guestPath, copying: library.hostPath, permissions: UInt32(mode))
        }
        logger.info("closure: \(libraries.count) libraries for \(roots.count) executables")

        // 4. The filesystem.
        let uuid = try Self.derivedUUID(tree: tree, epoch: epoch, format: spec.format.rawValue)
        defer { try? FileManager.default.removeItem(atPath: partial) }
        var info = ImageManifest.ImageInfo(file: (output as NSString).lastPathComponent, format: spec.format.rawValue,
                                           size: 0, sha256: "", uuid: nil, label: nil, compression: nil, dax: spec.dax,
                                           daxHeader: spec.daxHeader, filesystemOffset: 0, pfnDataOffset: nil,
                                           rootDevicePmem: nil, rootDeviceBlock: nil, sourceDateEpoch: epoch)
        let filesystem = spec.daxHeader ? scratch.joinedPath("filesystem.img") : partial
        switch spec.format {
        case .ext4:
            let minimum = Ext4Image.minimumSize(for: tree)
            if let requested = spec.size, requested < minimum {
                throw ComposeError.imageTooSmall(requested: requested, needed: minimum)
            }
            func laidOut(_ size: UInt64) -> UInt64 {
                var size = ByteCount.roundUp(size, to: spec.dax ? DaxLayout.alignment : Ext4Image.blockSize)
                if spec.daxHeader {
                    size = ByteCount.roundUp(size + DaxLayout.filesystemOffset, to: DaxLayout.alignment) - DaxLayout.filesystemOffset
                }
                return size
            }
            let writer = Ext4Image(uuid: uuid, epoch: epoch, journal: spec.journal)
            do {
                try writer.write(tree: tree, to: filesystem, size: laidOut(spec.size ?? Ext4Image.automaticSize(minimum: minimum)))
            } catch ComposeError.imageTooSmall where spec.size == nil {
                // The tight default is an estimate; the same inputs always take the same path here.
                try writer.write(tree: tree, to: filesystem, size: laidOut(Ext4Image.generousSize(minimum: minimum)))
            }
            info.uuid = uuid.uuidString.lowercased()
            info.label = "guestroot"
        case .erofs:
            var writer = ErofsImage(uuid: uuid, epoch: epoch, compression: plan.erofsCompression, dax: spec.dax)
            try writer.write(tree: tree, to: filesystem)
            warnings += writer.warnings
            if spec.dax, !spec.daxHeader {
                try Self.pad(filesystem, to: ByteCount.roundUp(try Self.size(of: filesystem), to: DaxLayout.alignment))
            }
            if let size = spec.size {
                let actual = try Self.size(of: filesystem)
                guard size >= actual else { throw ComposeError.imageTooSmall(requested: size, needed: actual) }
            }
            info.uuid = uuid.uuidString.lowercased()
            info.compression = plan.erofsCompression.rawValue
        case .initramfs:
            let links = [String: String](uniqueKeysWithValues: [("/init", try tree.canonicalPath(ImageSpec.initGuestPath))])
            try Initramfs(compression: plan.initramfsCompression, epoch: epoch, hardLinks: links).write(tree: tree, to: filesystem)
            info.compression = plan.initramfsCompression.rawValue
        }
        if spec.daxHeader {
            let fsSize = try Self.size(of: filesystem)
            let signature = uuid.uuid
            let disk = UInt32(signature.0) | UInt32(signature.1) << 8 | UInt32(signature.2) << 16 | UInt32(signature.3) << 24
            let prefix = DaxLayout.prefix(filesystemSize: ByteCount.roundUp(fsSize, to: 512), diskSignature: disk)
            try Self.concatenate(prefix: prefix, file: filesystem, into: partial,
                                 totalSize: ByteCount.roundUp(DaxLayout.filesystemOffset + fsSize, to: DaxLayout.alignment))
            info.filesystemOffset = DaxLayout.filesystemOffset
            info.pfnDataOffset = DaxLayout.dataOffset
        }
        if spec.format != .initramfs {
            info.rootDevicePmem = spec.daxHeader ? "/dev/pmem0p1" : "/dev/pmem0"
            info.rootDeviceBlock = spec.daxHeader ? "/dev/vda1" : "/dev/vda"
        }

        // 5. Digests, manifest, then publishing: the old manifest goes first, then the image is renamed into
        // place, then its manifest. At every moment a manifest at `output.manifest.json` describes the image
        // at `output` (or there is none): a reader never pairs a new image with an old manifest.
        info.size = try Self.size(of: partial)
        info.sha256 = try Self.digest(partial)
        let kernels = try plan.kernels.map { path -> ImageManifest.Artifact in
            .init(path: path, kind: Self.kernelKind(path), size: try Self.size(of: path), sha256: try Self.digest(path))
        }
        var options = spec.launch
        if options.vsockPath.isEmpty { options.vsockPath = output + ".vsock" }
        var manifest = ImageManifest(
            image: info, kernels: kernels,
            contents: .init(initPath: ImageSpec.initGuestPath, agentPath: plan.agentPath == nil ? nil : ImageSpec.agentGuestPath,
                            libraries: libraries.map(\.guestPath), modules: modulesInstalled, kernelRelease: kernelRelease,
                            entries: tree.entries.count),
            settings: options, cmdline: [:], launch: .object([:]))
        if let launchSections {
            let sections = try launchSections.sections(for: manifest, imagePath: output)
            manifest.cmdline = sections.cmdline
            manifest.launch = sections.launch
        }
        let manifestPath = output + ".manifest.json"
        defer { try? FileManager.default.removeItem(atPath: manifestPartial) }
        do { try manifest.encoded().write(to: URL(fileURLWithPath: manifestPartial)) } catch {
            throw ComposeError.io(operation: "write", path: manifestPartial, reason: error.localizedDescription)
        }
        guard unlink(manifestPath) == 0 || errno == ENOENT else {
            throw ComposeError.io(operation: "remove the old manifest", path: manifestPath, reason: String(cString: strerror(errno)))
        }
        guard rename(partial, output) == 0 else {
            throw ComposeError.io(operation: "rename \(partial) to", path: output, reason: String(cString: strerror(errno)))
        }
        guard rename(manifestPartial, manifestPath) == 0 else {
            throw ComposeError.io(operation: "rename \(manifestPartial) to", path: manifestPath, reason: String(cString: strerror(errno)))
        }
        for warning in warnings { logger.warning("\(warning)") }
        return ComposeResult(imagePath: output, manifestPath: manifestPath, manifest: manifest, warnings: warnings)
    }

    // MARK: Validation

    struct Plan {
        let initPath: String
        let agentPath: String?
        let output: String
        let kernels: [String]
        let erofsCompression: ErofsImage.Compression
        let initramfsCompression: Initramfs.Compression
    }

    /// Checks every input before any work, so bad input fails fast and leaves nothing behind.
    func validate() throws -> Plan {
        guard let initPath = spec.initPath else { throw ComposeError.badOption("--init PATH is required (the guest's /sbin/init)") }
        guard let output = spec.output, !output.isEmpty else { throw ComposeError.badOption("-o PATH is required (where to write the image)") }
        let absoluteOutput = Self.absolute(output)
        var isDir: ObjCBool = false
        let outputDir = (absoluteOutput as NSString).deletingLastPathComponent
        guard FileManager.default.fileExists(atPath: outputDir, isDirectory: &isDir), isDir.boolValue else {
            throw ComposeError.badOption("-o \(output): directory \(outputDir) does not exist")
        }
        guard FileManager.default.isWritableFile(atPath: outputDir) else {
            throw ComposeError.badOption("-o \(output): directory \(outputDir) is not writable")
        }
        if FileManager.default.fileExists(atPath: absoluteOutput, isDirectory: &isDir), isDir.boolValue {
            throw ComposeError.badOption("-o \(output) is a directory; give a file name")
        }
        try Self.requireExecutableELF(initPath, role: "--init")
        if let agent = spec.agentPath { try Self.requireExecutableELF(agent, role: "--agent") }
        for addition in spec.additions {
            guard FileManager.default.isReadableFile(atPath: addition.source) else {
                throw ComposeError.unreadableInput(role: "--add", path: addition.source,
                                                   reason: FileManager.default.fileExists(atPath: addition.source) ? "permission denied" : "no such file")
            }
            guard addition.destination.hasPrefix("/") else {
                throw ComposeError.badOption("--add \(addition.source):\(addition.destination): the guest path must be absolute")
            }
        }
        if let base = spec.base, !FileManager.default.isReadableFile(atPath: base) {
            throw ComposeError.unreadableInput(role: "--base", path: base, reason: "missing or unreadable")
        }
        if spec.modulesFrom == nil, !spec.modules.isEmpty {
            throw ComposeError.badOption("--modules needs --modules-from DIR (a lib/modules/<release> tree)")
        }
        if spec.modulesFrom != nil, spec.modules.isEmpty {
            throw ComposeError.badOption("--modules-from needs --modules a,b (which modules to install)")
        }
        if spec.format == .initramfs, spec.dax || spec.daxHeader {
            throw ComposeError.badOption("--dax and --dax-header apply to ext4 and erofs, not to an initramfs")
        }
        if spec.daxHeader, !spec.dax {
            throw ComposeError.badOption("--dax-header needs --dax (the NVDIMM prefix is only for DAX-mapped images)")
        }
        if spec.format == .initramfs, spec.size != nil {
            throw ComposeError.badOption("--size applies to ext4 and erofs; an initramfs is as large as its content")
        }
        var erofsCompression = ErofsImage.Compression.none
        var initramfsCompression = Initramfs.Compression.gzip
        if let compression = spec.compression {
            switch spec.format {
            case .erofs:
                guard let value = ErofsImage.Compression(rawValue: compression) else {
                    throw ComposeError.badOption("--compression \(compression): erofs takes none, lz4 or lz4hc")
                }
                erofsCompression = value
            case .initramfs:
                guard let value = Initramfs.Compression(rawValue: compression) else {
                    throw ComposeError.badOption("--compression \(compression): an initramfs takes gzip, zstd or none")
                }
                initramfsCompression = value
            case .ext4:
                if compression != "none" { throw ComposeError.badOption("--compression: ext4 images are not compressed") }
            }
        }
        var kernels = spec.kernels
        if let dir = spec.kernelDir {
            let found = ["bzImage", "vmlinux", "vmlinuz"].map { dir.joinedPath($0) }.filter { FileManager.default.fileExists(atPath: $0) }
            guard !found.isEmpty else {
                throw ComposeError.unreadableInput(role: "--kernel-dir", path: dir, reason: "holds no bzImage, vmlinux or vmlinuz")
            }
            kernels += found
        }
        for kernel in kernels where !FileManager.default.isReadableFile(atPath: kernel) {
            throw ComposeError.unreadableInput(role: "--kernel", path: kernel, reason: "missing or unreadable")
        }
        guard LaunchOptions.vsockModes.contains(spec.launch.vsock) else {
            throw ComposeError.badOption("--vsock \(spec.launch.vsock): expected bridge, vhost or none")
        }
        return Plan(initPath: initPath, agentPath: spec.agentPath, output: absoluteOutput, kernels: kernels.map(Self.absolute),
                    erofsCompression: erofsCompression, initramfsCompression: initramfsCompression)
    }

    static func requireExecutableELF(_ path: String, role: String) throws {
        let elf = try ELFFile(path: path, role: role)
        guard elf.type == 2 || elf.type == 3 else {
            throw ComposeError.notELF(role: role, path: path, reason: "ELF type \(elf.type) is not an executable")
        }
    }

    // MARK: Additions

    /// Copies one addition (a file or a directory tree) and returns the dynamic ELFs it brought.
    func add(_ addition: ImageSpec.Addition, to tree: RootTree) throws -> [LibraryClosure.Root] {
        var roots: [LibraryClosure.Root] = []
        func addOne(host: String, guest: String, top: Bool) throws {
            let attributes: [FileAttributeKey: Any]
            do { attributes = try FileManager.default.attributesOfItem(atPath: host) } catch {
                throw ComposeError.unreadableInput(role: "--add", path: host, reason: error.localizedDescription)
            }
            let hostMode = UInt32((attributes[.posixPermissions] as? Int) ?? 0o644)
            let permissions = top ? (addition.permissions ?? hostMode) : hostMode
            let uid = top ? (addition.uid ?? 0) : 0
            let gid = top ? (addition.gid ?? 0) : 0
            switch attributes[.type] as? FileAttributeType {
            case .typeDirectory?:
                try tree.addDirectory(guest, permissions: permissions, uid: uid, gid: gid)
                let names = try FileManager.default.contentsOfDirectory(atPath: host).sorted()
                for name in names { try addOne(host: host.joinedPath(name), guest: guest.joinedPath(name), top: false) }
            case .typeSymbolicLink?:
                let target = try FileManager.default.destinationOfSymbolicLink(atPath: host)
                try tree.addSymlink(guest, target: target, uid: uid, gid: gid)
            case .typeRegular?:
                guard FileManager.default.isReadableFile(atPath: host) else {
                    throw ComposeError.unreadableInput(role: "--add", path: host, reason: "permission denied")
                }
                try tree.addFile(guest, copying: host, permissions: permissions, uid: uid, gid: gid)
                if ELFFile.hasMagic(path: host), let elf = try? ELFFile(path: host),
                   elf.interpreter != nil || !elf.needed.isEmpty {
                    roots.append(.init(hostPath: host, guestPath: try tree.canonicalPath(guest), role: "--add \(host)"))
                }
            default:
                throw ComposeError.unreadableInput(role: "--add", path: host, reason: "not a file, directory or symlink")
            }
        }
        // Follow a symlink given on the command line itself; keep the ones inside a copied directory.
        let top = addition.source.realPath
        try addOne(host: top, guest: addition.destination, top: true)
        return roots
    }

    // MARK: Helpers

    /// A UUID that depends only on the epoch, the format and the tree's names, kinds, owners, modes and sizes.
    static func derivedUUID(tree: RootTree, epoch: Int64, format: String) throws -> UUID {
        var description = "guestkit \(format) \(epoch)\n"
        for path in tree.sortedPaths {
            guard let entry = tree.entries[path] else { continue }
            description += "\(path) \(String(entry.mode, radix: 8)) \(entry.uid) \(entry.gid)"
            if entry.kind == .file { description += " \(tree.fileSize(path))" }
            if case let .symlink(target) = entry.kind { description += " -> \(target)" }
            description += "\n"
        }
        let hex = SHA256Hex.of(text: description)
        var bytes = stride(from: 0, to: 32, by: 2).map { offset -> UInt8 in
            let start = hex.index(hex.startIndex, offsetBy: offset)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16) ?? 0
        }
        bytes[6] = bytes[6] & 0x0f | 0x50  // version 5 layout (name-based, SHA)
        bytes[8] = bytes[8] & 0x3f | 0x80  // RFC 4122 variant
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }

    /// The SHA-256 of a file, as hex.
    static func digest(_ path: String) throws -> String {
        do { return try SHA256Hex.of(file: path) } catch {
            throw ComposeError.io(operation: "read for its digest", path: path, reason: error.localizedDescription)
        }
    }

    static func kernelKind(_ path: String) -> String {
        if ELFFile.hasMagic(path: path) { return "vmlinux" }
        let name = (path as NSString).lastPathComponent
        return name.hasPrefix("vmlinuz") ? "vmlinuz" : "bzImage"
    }

    /// The library guest-init loads kernel modules with (dlopen).
    static let moduleLibrary = "libkmod.so.2"

    /// Where the host's `name` is (the first system library directory holding it) and where it goes in the guest.
    static func hostLibrary(_ name: String, in searchPath: LoaderSearchPath, hostRoot: String) throws -> (hostPath: String, guestPath: String) {
        for directory in searchPath.system {
            let host = hostRoot.joinedPath(directory).joinedPath(name)
            if FileManager.default.fileExists(atPath: host) { return (host, directory.joinedPath(name)) }
        }
        throw ComposeError.badModules("modules need \(name) in the image and none is in \(searchPath.system.joined(separator: ", ")); install libkmod2")
    }

    /// Whether two paths name the same file (device and inode, through symlinks).
    public static func sameFile(_ a: String, _ b: String) -> Bool {
        guard let first = try? FileSystem.status(a), let second = try? FileSystem.status(b) else { return false }
        return first.device == second.device && first.inode == second.inode
    }

    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path.normalizedPath : FileManager.default.currentDirectoryPath.joinedPath(path).normalizedPath
    }

    static func size(of path: String) throws -> UInt64 {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ComposeError.io(operation: "stat", path: path, reason: String(cString: strerror(errno)))
        }
        return UInt64(info.st_size)
    }

    static func pad(_ path: String, to size: UInt64) throws {
        guard truncate(path, off_t(size)) == 0 else {
            throw ComposeError.io(operation: "extend to \(size) bytes", path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// Writes `prefix` then the bytes of `file` into `output`, extended with zeros to `totalSize`.
    static func concatenate(prefix: Data, file: String, into output: String, totalSize: UInt64) throws {
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        guard let out = FileHandle(forWritingAtPath: output), let input = FileHandle(forReadingAtPath: file) else {
            throw ComposeError.io(operation: "assemble", path: output, reason: "cannot open \(output) or \(file)")
        }
        defer {
            try? out.close()
            try? input.close()
        }
        do {
            try out.write(contentsOf: prefix)
            while let chunk = try input.read(upToCount: 4 << 20), !chunk.isEmpty { try out.write(contentsOf: chunk) }
        } catch {
            throw ComposeError.io(operation: "assemble", path: output, reason: error.localizedDescription)
        }
        try pad(output, to: totalSize)
    }
}
