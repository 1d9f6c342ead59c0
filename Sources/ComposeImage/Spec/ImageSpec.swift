import Foundation

/// Everything that defines a guest image: the CLI flags and the `--spec` YAML file both fill this in.
public struct ImageSpec: Sendable, Equatable {
    public enum Format: String, Sendable, CaseIterable { case ext4, erofs, initramfs }

    /// A host file or directory copied into the guest (`--add SRC:DST`).
    public struct Addition: Sendable, Equatable {
        public var source: String
        public var destination: String
        /// Permissions for the top entry (default: the source's).
        public var permissions: UInt32?
        public var uid: UInt32?
        public var gid: UInt32?

        public init(source: String, destination: String, permissions: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil) {
            self.source = source
            self.destination = destination
            self.permissions = permissions
            self.uid = uid
            self.gid = gid
        }

        /// Parses `SRC:DST` (DST absolute; the last ':' followed by '/' splits, so SRC may contain ':').
        public static func parse(_ text: String) throws -> Addition {
            guard let range = text.range(of: ":/", options: .backwards) else {
                throw ComposeError.badOption("--add \(text): expected SRC:DST with an absolute DST, e.g. ./hello:/usr/bin/hello")
            }
            let source = String(text[..<range.lowerBound])
            let destination = String(text[text.index(after: range.lowerBound)...])
            guard !source.isEmpty else { throw ComposeError.badOption("--add \(text): SRC is empty") }
            return Addition(source: source, destination: destination)
        }
    }

    /// A symbolic link created in the guest.
    public struct Link: Sendable, Equatable {
        public var path: String
        public var target: String
        public init(path: String, target: String) {
            self.path = path
            self.target = target
        }
    }

    public var initPath: String?
    public var agentPath: String?
    public var additions: [Addition] = []
    public var links: [Link] = []
    /// A directory, a tar (optionally gzip/zstd-compressed) or an OCI image layout.
    public var base: String?
    /// A kernel modules tree: `lib/modules/<release>` itself, or a directory holding `lib/modules/<release>`.
    public var modulesFrom: String?
    public var modules: [String] = []
    public var format: Format = .ext4
    public var dax = false
    public var daxHeader = false
    /// Image size for ext4 (default: fitted to the content).
    public var size: UInt64?
    public var compression: String?
    public var journal = false
    /// Strip symbols and debug sections from the installed init and agent (`strip --strip-unneeded` on the
    /// staged copies; the host's files are untouched). Halves a release Swift binary.
    public var strip = false
    public var kernels: [String] = []
    public var kernelDir: String?
    public var output: String?
    public var skeleton: String?
    public var launch = LaunchOptions()

    public init() {}

    /// Guest path of the init binary (where the kernel looks for init on a disk root).
    public static let initGuestPath = "/sbin/init"
    /// Guest path of the agent binary (guest-init's default `guest.agent`).
    public static let agentGuestPath = "/sbin/guest-agent"
}
