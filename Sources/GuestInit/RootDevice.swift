// Finding the root device without udev: devtmpfs creates /dev nodes as drivers bind, and libblkid's
// low-level probe reads superblocks (type, label, UUID) and partition tables straight from a device or
// an image file, so the same code identifies /dev/pmem0 in a guest and an mke2fs image in a test.
import CBlkid
import GuestSys

/// What libblkid read from a device's superblock.
public struct BlockIdentity: Equatable, Sendable, CustomStringConvertible {
    public var type: String
    public var label: String?
    public var uuid: String?

    public init(type: String, label: String? = nil, uuid: String? = nil) {
        self.type = type
        self.label = label
        self.uuid = uuid
    }

    public var description: String {
        type + (label.map { ", LABEL=" + $0 } ?? "") + (uuid.map { ", UUID=" + $0 } ?? "")
    }
}

/// One entry of a partition table.
public struct PartitionEntry: Equatable, Sendable {
    public let number: Int
    public let uuid: String?
    /// Byte offset of the partition from the start of the disk.
    public let offset: Int64

    public init(number: Int, uuid: String?, offset: Int64) {
        self.number = number
        self.uuid = uuid
        self.offset = offset
    }
}

/// Why the root could not be found or identified; each message says what to check.
public enum RootDeviceError: Error, Equatable, CustomStringConvertible {
    case notFound(spec: RootSpec, waitedMilliseconds: UInt64, seen: [String])
    case unreadable(path: String, code: Int32)
    case noFilesystem(path: String)
    case ambiguous(path: String)
    case probeFailed(path: String)
    case partitionWithoutNode(spec: RootSpec, disk: String, number: Int)

    public var description: String {
        switch self {
        case .notFound(let spec, let waited, let seen):
            let among = seen.isEmpty ? "no block devices at all" : "saw " + seen.joined(separator: "; ")
            return "no root \(spec) after \(DurationText.seconds(waited)) (\(among)); is the root disk attached "
                + "and its driver loaded (guest.modules=virtio_pmem,nd_pmem or virtio_blk)?"
        case .unreadable(let path, let code):
            return "cannot read root device \(path): \(Errno.name(code)) (\(Errno.message(code)))"
        case .noFilesystem(let path):
            return "no filesystem on \(path): libblkid recognises no superblock (corrupt or unformatted image?)"
        case .ambiguous(let path):
            return "\(path) carries several filesystem signatures; wipe the stale ones (wipefs) or set guest.rootfstype"
        case .probeFailed(let path):
            return "libblkid could not probe \(path) (I/O error or truncated image?)"
        case .partitionWithoutNode(let spec, let disk, let number):
            return "\(spec) is partition \(number) of \(disk), but no device node exists for it"
        }
    }
}

/// libblkid probes of one device or image file.
public enum BlockProbe {
    /// Type, label and UUID of the filesystem on `path`.
    public static func identify(_ path: String) throws(RootDeviceError) -> BlockIdentity {
        guard let probe = blkid_new_probe_from_filename(path) else {
            throw .unreadable(path: path, code: Errno.current)
        }
        defer { blkid_free_probe(probe) }
        blkid_probe_enable_superblocks(probe, 1)
        blkid_probe_set_superblocks_flags(probe, BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID | BLKID_SUBLKS_TYPE)
        blkid_probe_enable_partitions(probe, 0)
        switch blkid_do_safeprobe(probe) {
        case 0: break
        case 1: throw .noFilesystem(path: path)
        case -2: throw .ambiguous(path: path)
        default: throw .probeFailed(path: path)
        }
        guard let type = value(probe, "TYPE") else { throw .noFilesystem(path: path) }
        return BlockIdentity(type: type, label: value(probe, "LABEL"), uuid: value(probe, "UUID"))
    }

    /// The partition table of a whole disk (or disk image); empty when it has none.
    public static func partitions(_ path: String) throws(RootDeviceError) -> [PartitionEntry] {
        guard let probe = blkid_new_probe_from_filename(path) else {
            throw .unreadable(path: path, code: Errno.current)
        }
        defer { blkid_free_probe(probe) }
        blkid_probe_enable_superblocks(probe, 0)
        blkid_probe_enable_partitions(probe, 1)
        blkid_probe_set_partitions_flags(probe, BLKID_PARTS_ENTRY_DETAILS)
        guard let list = blkid_probe_get_partitions(probe) else { return [] }
        var entries: [PartitionEntry] = []
        for index in 0..<max(0, blkid_partlist_numof_partitions(list)) {
            guard let partition = blkid_partlist_get_partition(list, index) else { continue }
            // The start sector is the disk's word: a crafted table must not overflow the byte offset.
            let (offset, overflow) = Int64(blkid_partition_get_start(partition)).multipliedReportingOverflow(by: 512)
            guard !overflow, offset >= 0 else { continue }
            entries.append(PartitionEntry(
                number: Int(blkid_partition_get_partno(partition)),
                uuid: blkid_partition_get_uuid(partition).map { String(cString: $0).lowercased() },
                offset: offset))
        }
        return entries
    }

    private static func value(_ probe: blkid_probe, _ name: String) -> String? {
        var data: UnsafePointer<CChar>?
        var length = 0
        guard blkid_probe_lookup_value(probe, name, &data, &length) == 0, let data else { return nil }
        let text = String(cString: data)
        return text.isEmpty ? nil : text
    }
}

/// The device the root lives on, found and identified.
public struct RootDevice: Equatable, Sendable {
    public let path: String
    public let identity: BlockIdentity

    public init(path: String, identity: BlockIdentity) {
        self.path = path
        self.identity = identity
    }

    /// Waits (bounded) for the device `spec` names to appear among `candidates` (re-listed on every
    /// try, since drivers bind while we wait), then identifies it. A device that appears but holds no
    /// recognisable filesystem is an error at once: waiting would not fix it.
    public static func find(_ spec: RootSpec, candidates: () -> [String] = blockDevices,
                            timeoutMilliseconds: UInt64, pollMilliseconds: UInt64 = 10) throws(RootDeviceError) -> RootDevice
    {
        let deadline = Clock.monotonicDeadline(afterMilliseconds: timeoutMilliseconds)
        while true {
            var seen: [String] = []
            if let device = try attempt(spec, candidates(), &seen) { return device }
            if Clock.monotonicNanoseconds >= deadline {
                throw .notFound(spec: spec, waitedMilliseconds: timeoutMilliseconds, seen: seen)
            }
            Clock.sleep(nanoseconds: pollMilliseconds * 1_000_000)
        }
    }

    private static func attempt(_ spec: RootSpec, _ candidates: [String], _ seen: inout [String])
        throws(RootDeviceError) -> RootDevice?
    {
        switch spec {
        case .path(let path):
            guard FileSystem.exists(path) else { return nil }
            return RootDevice(path: path, identity: try BlockProbe.identify(path))
        case .label, .uuid:
            for candidate in candidates {
                guard let identity = try? BlockProbe.identify(candidate) else {
                    seen.append(candidate + " (no filesystem)")
                    continue
                }
                let matches: Bool
                switch spec {
                case .label(let label): matches = identity.label == label
                case .uuid(let uuid): matches = identity.uuid?.lowercased() == uuid
                default: matches = false
                }
                if matches { return RootDevice(path: candidate, identity: identity) }
                seen.append("\(candidate) (\(identity))")
            }
            return nil
        case .partitionUUID(let uuid):
            for candidate in candidates {
                guard let table = try? BlockProbe.partitions(candidate), !table.isEmpty else { continue }
                seen.append("\(candidate) (\(table.count) partitions)")
                guard let entry = table.first(where: { $0.uuid == uuid }) else { continue }
                guard let node = partitionNode(disk: candidate, number: entry.number) else {
                    throw .partitionWithoutNode(spec: spec, disk: candidate, number: entry.number)
                }
                guard FileSystem.exists(node) else { return nil }
                return RootDevice(path: node, identity: try BlockProbe.identify(node))
            }
            return nil
        }
    }

    /// /dev/NAME for every block device the kernel knows (/sys/class/block), whole disks first.
    public static func blockDevices() -> [String] {
        let names = ((try? FileSystem.listDirectory("/sys/class/block")) ?? []).sorted()
        let disks = names.filter { !FileSystem.exists("/sys/class/block/\($0)/partition") }
        let partitions = names.filter { !disks.contains($0) }
        return (disks + partitions).filter { !$0.hasPrefix("ram") && !$0.hasPrefix("loop") }.map { "/dev/" + $0 }
    }

    /// The node of partition `number` of a disk: the child in sysfs whose `partition` file says so.
    static func partitionNode(disk: String, number: Int) -> String? {
        guard disk.hasPrefix("/dev/") else { return nil }
        let name = String(disk.dropFirst(5))
        let sysfs = "/sys/class/block/" + name
        for child in (try? FileSystem.listDirectory(sysfs)) ?? [] where child.hasPrefix(name) {
            let text = (try? FileSystem.readText("\(sysfs)/\(child)/partition")) ?? ""
            if Int(text.split(separator: "\n").first ?? "") == number { return "/dev/" + child }
        }
        return nil
    }

    /// Whether the block device supports DAX (its queue's `dax` attribute; a partition asks its disk).
    /// Image files and unknown devices do not.
    public static func supportsDax(_ path: String) -> Bool {
        guard let status = try? FileSystem.status(path), status.isBlockDevice else { return false }
        let (major, minor) = status.deviceNumbers
        let base = "/sys/dev/block/\(major):\(minor)"
        let queue = FileSystem.exists(base + "/partition") ? base + "/../queue/dax" : base + "/queue/dax"
        return ((try? FileSystem.readText(queue)) ?? "").hasPrefix("1")
    }
}

extension DurationText {
    /// "5 s", "2.5 s", "0.2 s".
    static func seconds(_ milliseconds: UInt64) -> String {
        let whole = String(milliseconds / 1000)
        var fraction = String(milliseconds % 1000)
        if fraction == "0" { return whole + " s" }
        fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return whole + "." + fraction + " s"
    }
}
