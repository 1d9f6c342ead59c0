// A FUSE filesystem that never answers: mounted on a scratch directory, it answers the kernel's FUSE_INIT
// and nothing else, so any path under it (a chdir, a stat) blocks until the filesystem goes away, exactly
// like a dead NFS server. `release()` closes the FUSE device, which aborts the connection: every blocked
// call returns ENOTCONN, and the mount is detached. Needs root and /dev/fuse.
import Foundation
import GuestSys

/// A mount where every access hangs until `release()`.
public final class HungFilesystem: @unchecked Sendable {
    // `device` is closed once, by release (guarded by `lock`); the rest is immutable.
    public let mountPoint: String
    private var device: FileDescriptor?
    private let lock = NSLock()

    public init(at mountPoint: String) throws {
        self.mountPoint = mountPoint
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let fuse = try FileDescriptor.open("/dev/fuse", .readWrite)
        do {
            try Mounts.mount(source: "guestkit-hang", target: mountPoint, type: "fuse", flags: [.noSetuid, .noDevices],
                             data: "fd=\(fuse.rawValue),rootmode=40000,user_id=0,group_id=0")
        } catch {
            fuse.closeQuietly()
            throw error
        }
        device = fuse
        try answerInit(fuse)
    }

    /// Reads the kernel's FUSE_INIT and accepts protocol 7.31 with every optional feature off.
    private func answerInit(_ fuse: FileDescriptor) throws {
        var request = [UInt8](repeating: 0, count: 132 * 1024)
        let n = try request.withUnsafeMutableBytes { try fuse.read(into: $0) }
        // fuse_in_header: len u32, opcode u32, unique u64, nodeid u64, … (26 = FUSE_INIT).
        guard n >= 40, request.withUnsafeBytes({ $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self) }) == 26 else {
            throw RunningAgentError("the FUSE device did not start with FUSE_INIT")
        }
        let unique = request.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self) }
        var reply = [UInt8]()
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { reply += $0 } }
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { reply += $0 } }
        // fuse_out_header (len, error, unique), then the 24-byte fuse_init_out of protocol 7.x:
        // major, minor, max_readahead, flags, max_background, congestion_threshold, max_write.
        u32(16 + 24); u32(0); withUnsafeBytes(of: unique.littleEndian) { reply += $0 }
        u32(7); u32(31); u32(0); u32(0); u16(0); u16(0); u32(4096)
        try fuse.writeAll(reply)
    }

    /// Aborts the filesystem (blocked calls fail with ENOTCONN) and detaches the mount. Idempotent.
    public func release() {
        let fuse = lock.withLock { () -> FileDescriptor? in
            defer { device = nil }
            return device
        }
        guard let fuse else { return }
        fuse.closeQuietly()
        try? Mounts.unmount(mountPoint, detach: true)
    }

    deinit { release() }
}
