#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGuestShim

/// A namespace for a container process to join: an open namespace file and its CLONE_NEW* type.
public struct NamespaceJoin: Sendable {
    public var fd: FileDescriptor
    public var type: Int32
    /// For error messages: "user", "mnt", …
    public var name: String

    public init(fd: FileDescriptor, type: Int32, name: String) {
        self.fd = fd
        self.type = type
        self.name = name
    }
}

/// What the two C stages of a container process need (see `gk_container_spawn`).
public struct ContainerSpawnRequest: Sendable {
    /// The GuestKit binary to re-exec as the container's init (or exec init).
    public var binary: FileDescriptor
    public var arguments: [String]
    public var environment: [String]
    /// The child's end of the sync socket; it becomes descriptor 3.
    public var syncSocket: FileDescriptor
    /// Descriptor 0, 1 and 2 of the child.
    public var stdio: [FileDescriptor]
    /// Namespaces to join, in order.
    public var joins: [NamespaceJoin]
    /// CLONE_NEW* flags of the namespaces to create (without CLONE_NEWCGROUP).
    public var cloneFlags: Int32
    /// Create a cgroup namespace once placed in the cgroup.
    public var newCgroupNamespace: Bool
    /// Stage 2 is in a new user namespace: become its root once the maps are written.
    public var becomeRoot = false

    public init(binary: FileDescriptor, arguments: [String], environment: [String], syncSocket: FileDescriptor,
                stdio: [FileDescriptor], joins: [NamespaceJoin] = [], cloneFlags: Int32 = 0, newCgroupNamespace: Bool = false) {
        self.binary = binary
        self.arguments = arguments
        self.environment = environment
        self.syncSocket = syncSocket
        self.stdio = stdio
        self.joins = joins
        self.cloneFlags = cloneFlags
        self.newCgroupNamespace = newCgroupNamespace
    }
}

/// The messages the C stages send on the sync socket.
public enum ContainerStageMessage: Sendable, Equatable {
    /// Stage 2 exists with this pid (in the caller's PID namespace).
    case created(pid: Int32)
    /// A stage failed: the step ("setns user", "clone", "execveat", …) and its errno.
    case failed(step: String, code: Int32)

    /// Decodes 'P' + pid or 'E' + errno + step; nil for anything else.
    public init?(_ bytes: [UInt8]) {
        guard bytes.count >= 5 else { return nil }
        let value = Int32(bitPattern: UInt32(bytes[1]) | UInt32(bytes[2]) << 8 | UInt32(bytes[3]) << 16 | UInt32(bytes[4]) << 24)
        switch bytes[0] {
        case UInt8(ascii: "P"): self = .created(pid: value)
        case UInt8(ascii: "E"): self = .failed(step: String(decoding: bytes[5...], as: UTF8.self), code: value)
        default: return nil
        }
    }

    /// The byte that lets stage 2 go on.
    public static let go: [UInt8] = [UInt8(ascii: "G")]
}

/// Starting the stages of a container process.
public enum ContainerSpawner {
    /// Forks stage 1 and returns its pid; everything after the fork is reported on the sync socket.
    public static func spawn(_ request: ContainerSpawnRequest) throws(SysError) -> pid_t {
        var fdMap: [Int32] = []
        for (target, source) in request.stdio.prefix(3).enumerated() {
            fdMap.append(source.rawValue)
            fdMap.append(Int32(target))
        }
        let names = request.joins.map { strdup($0.name) }
        defer { for name in names { free(name) } }
        let joins = zip(request.joins, names).map { gk_namespace_join(fd: $0.fd.rawValue, type: $0.type, name: $1) }
        let pid: pid_t = withCStrings(request.arguments) { argv in
            withCStrings(request.environment) { envp in
                fdMap.withUnsafeBufferPointer { map in
                    joins.withUnsafeBufferPointer { joinBuffer in
                        var attr = gk_container_attr()
                        attr.exe_fd = request.binary.rawValue
                        attr.argv = argv
                        attr.envp = envp
                        attr.sync_fd = request.syncSocket.rawValue
                        attr.fd_map = map.baseAddress
                        attr.fd_map_count = Int32(map.count / 2)
                        attr.joins = joinBuffer.baseAddress
                        attr.join_count = Int32(joinBuffer.count)
                        attr.clone_flags = request.cloneFlags
                        attr.unshare_cgroup = request.newCgroupNamespace ? 1 : 0
                        attr.become_root = request.becomeRoot ? 1 : 0
                        return gk_container_spawn(&attr)
                    }
                }
            }
        }
        if pid == -1 { throw SysError("fork", ["container stage 1"], code: errno) }
        return pid
    }
}
