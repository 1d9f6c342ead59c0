import GuestSys

/// A fatal early-boot error: printed on the console, then power-off (or the rescue shell).
public struct BootFailure: Error, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Mounts the root device read-only at the staging point, with DAX as the policy allows and an
/// optional tmpfs overlay on top, ready for `SwitchRoot`.
public enum RootMount {
    /// Where the new root is assembled inside the initramfs.
    public static let newRoot = "/sysroot"
    static let lowerDirectory = "/.guestkit/lower"
    static let writableDirectory = "/.guestkit/rw"

    /// `ensureFilesystem` loads a filesystem's module when the kernel lacks it (it has no modprobe
    /// to call from an initramfs).
    public static func mount(_ device: RootDevice, options: BootOptions, console: Console,
                             ensureFilesystem: (String) -> Void) throws(BootFailure) -> RootReport
    {
        let type = options.rootFilesystem ?? device.identity.type
        if let forced = options.rootFilesystem, forced != device.identity.type {
            console.warning("guest.rootfstype=\(forced), but libblkid sees \(device.identity.type) on \(device.path)")
        }
        ensureFilesystem(type)

        let overlay = options.overlay == .tmpfs
        let target = overlay ? lowerDirectory : newRoot
        do throws(SysError) { try FileSystem.makeDirectories(target) } catch {
            throw BootFailure("cannot create \(target) for the root: \(error)")
        }

        var dax = false
        switch options.dax.decide(filesystem: type, deviceSupportsDax: RootDevice.supportsDax(device.path)) {
        case .refuse(let reason):
            throw BootFailure(reason)
        case .withoutDax(let warning):
            if let warning { console.warning(warning) }
            try mountReadOnly(device, type: type, at: target, data: nil)
        case .withDax(let option):
            do throws(BootFailure) {
                try mountReadOnly(device, type: type, at: target, data: option)
                dax = true
            } catch {
                guard options.dax == .auto else { throw error }
                console.warning("\(error); retrying without DAX (guest.dax=auto)")
                try mountReadOnly(device, type: type, at: target, data: nil)
            }
        }
        console.info("root \(device.path) (\(device.identity)) mounted read-only\(dax ? " with DAX" : " without DAX")")

        if overlay {
            ensureFilesystem("overlay")
            do throws(SysError) {
                try FileSystem.makeDirectories(writableDirectory)
                try Mounts.mount(source: "tmpfs", target: writableDirectory, type: "tmpfs", data: "mode=0755")
                try FileSystem.makeDirectories(writableDirectory + "/upper")
                try FileSystem.makeDirectories(writableDirectory + "/work")
                try FileSystem.makeDirectories(newRoot)
                try Mounts.mount(source: "overlay", target: newRoot, type: "overlay", data:
                    "lowerdir=\(lowerDirectory),upperdir=\(writableDirectory)/upper,workdir=\(writableDirectory)/work")
            } catch {
                throw BootFailure("cannot put a tmpfs overlay on the root: \(error); boot with guest.overlay=none?")
            }
            console.info("root has a writable tmpfs overlay")
        }
        return RootReport(source: device.path, type: type, dax: dax, overlay: options.overlay, switched: false)
    }

    private static func mountReadOnly(_ device: RootDevice, type: String, at target: String, data: String?)
        throws(BootFailure)
    {
        do throws(SysError) {
            try Mounts.mount(source: device.path, target: target, type: type, flags: .readOnly, data: data)
        } catch {
            let hint = error.code == Errno.ENODEV ? "the kernel has no \(type) driver (add its module to guest.modules)"
                : error.code == Errno.EINVAL ? "bad filesystem or unsupported mount option"
                : "is the filesystem corrupt?"
            throw BootFailure("cannot mount root \(device.path) (\(type)) read-only\(data.map { " with " + $0 } ?? ""): "
                + "\(error.name) (\(Errno.message(error.code))); \(hint)")
        }
    }
}
