import GuestJSON
import GuestSys

/// A container's bundle: its spec and the absolute paths of the bundle and the root filesystem.
public struct ContainerBundle: Sendable {
    /// Absolute; relative bind sources and a relative root.path are taken from it.
    public let path: String
    public let spec: RuntimeSpec
    /// Absolute path of the root filesystem.
    public let rootfs: String

    /// Reads `<path>/config.json`.
    public init(path: String) throws(ContainerError) {
        guard path.hasPrefix("/") else { throw ContainerError.failed("bundle path \"\(path)\" is not absolute") }
        let bytes: [UInt8]
        do throws(SysError) { bytes = try FileSystem.readFile(path + "/config.json", limit: 16 << 20) } catch {
            throw ContainerError.step("read \(path)/config.json", error)
        }
        let spec: RuntimeSpec
        do throws(SpecError) { spec = try RuntimeSpec(json: bytes) } catch { throw ContainerError.invalidSpec(error) }
        try self.init(path: path, spec: spec, rootfs: nil)
    }

    /// A spec given directly; `rootfs` (absolute) replaces root.path when set.
    public init(path: String, spec: RuntimeSpec, rootfs: String?) throws(ContainerError) {
        self.path = RootfsPath.clean(path)
        self.spec = spec
        guard spec.process != nil else {
            throw ContainerError.invalidSpec(SpecError(JSONPath([.member("process")]), "is required to create a container"))
        }
        guard spec.linux.namespace(.mount) != nil else {
            throw ContainerError.invalidSpec(SpecError(spec.linux.path.appending("namespaces"),
                                                       "must include a mount namespace ({\"type\": \"mount\"}): GuestKit does not build a container in the guest's mount namespace"))
        }
        let root: String
        if let rootfs {
            root = rootfs
        } else if let specRoot = spec.root?.path {
            root = specRoot.hasPrefix("/") ? specRoot : self.path + "/" + specRoot
        } else {
            throw ContainerError.invalidSpec(SpecError(JSONPath([.member("root"), .member("path")]), "is required"))
        }
        self.rootfs = RootfsPath.clean(root)
        guard FileSystem.isDirectory(self.rootfs) else {
            throw ContainerError.failed("root filesystem \(self.rootfs) is not a directory")
        }
        if let st = try? FileSystem.status(self.rootfs, followSymlinks: false), st.isSymlink {
            throw ContainerError.invalidSpec(SpecError(JSONPath([.member("root"), .member("path")]), "\(self.rootfs) is a symlink; give the real path"))
        }
        if let resources = spec.linux.resources {
            do throws(SpecError) { try CgroupResourceFiles.check(resources) } catch { throw ContainerError.invalidSpec(error) }
        }
    }
}

/// Container ids: what may name a container (it becomes a cgroup and a keyring name).
public enum ContainerID {
    /// Letters, digits, `_ + - .`, 1 to 128 bytes, not "." or "..".
    public static func check(_ id: String) throws(ContainerError) {
        let field = JSONPath([.member("id")])
        guard !id.isEmpty else { throw ContainerError.invalidSpec(SpecError(field, "must not be empty")) }
        guard id.utf8.count <= 128 else { throw ContainerError.invalidSpec(SpecError(field, "is longer than 128 bytes")) }
        guard id != "." && id != ".." else { throw ContainerError.invalidSpec(SpecError(field, "\"\(id)\" is not a name")) }
        let allowed = id.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2B
                || b == 0x2D || b == 0x2E
        }
        guard allowed else {
            throw ContainerError.invalidSpec(SpecError(field, "\"\(id)\" has characters other than letters, digits, _ + - ."))
        }
    }
}
