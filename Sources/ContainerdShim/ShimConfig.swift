import Foundation

/// How the shim boots a task's VM, from `/etc/guestkit/shim.toml` (or the file containerd's runtime
/// options name: `ctr run --runtime-config-path`, CRI's `ConfigPath`; else the file GUESTKIT_SHIM_CONFIG
/// in containerd's environment names). Every key is optional; the
/// defaults point at what `make install` put beside the shim binary (`<prefix>/share/guestkit`).
///
/// ```toml
/// [guest]
/// manifest = "/usr/local/share/guestkit/rootfs.img.manifest.json"  # the guest image (and its kernel)
/// kernel = "/usr/local/share/guestkit/bzImage"                     # instead of the manifest's
/// machine = "q35"               # q35 (rootfs on virtio-pmem with DAX) or microvm
/// memory_mib = 256
/// vcpus = 1
/// accelerator = "auto"          # auto (KVM if it runs guests, else TCG), kvm, tcg
/// boot_timeout_seconds = 60     # VM start to agent answering; past it Create fails and the VM is killed
/// call_timeout_seconds = 30     # any one agent call but waits
/// shutdown_grace_seconds = 10   # agent Shutdown to QEMU killed
/// kernel_args = ""              # appended to the guest's kernel command line
///
/// [shim]
/// log_level = "info"            # info or debug
/// qemu = "qemu-system-x86_64"
/// bridge = "/usr/local/bin/guest-vsock-bridge"
/// run_root = "/run/guestkit/shim"
/// ```
public struct ShimConfig: Sendable, Equatable {
    public static let defaultPath = "/etc/guestkit/shim.toml"

    public var manifest: String
    public var kernel: String?
    public var machine = "q35"
    public var memoryMiB = 256
    public var vcpus = 1
    public var accelerator = "auto"
    public var bootTimeout: Duration = .seconds(60)
    public var callTimeout: Duration = .seconds(30)
    public var shutdownGrace: Duration = .seconds(10)
    public var kernelArguments: [String] = []
    public var debug = false
    public var qemu = "qemu-system-x86_64"
    public var bridge: String
    public var runRoot = "/run/guestkit/shim"

    /// Defaults relative to the installed binary: `<prefix>/bin/containerd-shim-guestkit-v1` →
    /// `<prefix>/share/guestkit/rootfs.img.manifest.json` and `<prefix>/bin/guest-vsock-bridge`.
    public init(binaryDirectory: String) {
        let prefix = (binaryDirectory as NSString).deletingLastPathComponent
        manifest = prefix + "/share/guestkit/rootfs.img.manifest.json"
        bridge = binaryDirectory + "/guest-vsock-bridge"
    }

    /// The defaults overridden by the file's keys. Unknown keys and values of the wrong kind are errors
    /// naming them.
    public init(binaryDirectory: String, toml text: String, source: String) throws(ShimError) {
        self.init(binaryDirectory: binaryDirectory)
        let document: TOMLDocument
        do throws(ShimError) {
            document = try TOMLDocument(parsing: text)
        } catch {
            throw .invalidArgument("\(source): \(error)")
        }
        func string(_ key: String) throws(ShimError) -> String? {
            guard let value = document[key] else { return nil }
            guard case .string(let text) = value else { throw .invalidArgument("\(source): \(key) must be a string") }
            return text
        }
        func integer(_ key: String, _ range: ClosedRange<Int64>) throws(ShimError) -> Int? {
            guard let value = document[key] else { return nil }
            guard case .integer(let n) = value, range.contains(n) else {
                throw .invalidArgument("\(source): \(key) must be an integer from \(range.lowerBound) to \(range.upperBound)")
            }
            return Int(n)
        }
        let known: Set<String> = ["guest.manifest", "guest.kernel", "guest.machine", "guest.memory_mib", "guest.vcpus",
                                  "guest.accelerator", "guest.boot_timeout_seconds", "guest.call_timeout_seconds",
                                  "guest.shutdown_grace_seconds", "guest.kernel_args", "shim.log_level", "shim.qemu", "shim.bridge",
                                  "shim.run_root"]
        for key in document.values.keys.sorted() where !known.contains(key) {
            throw .invalidArgument("\(source): unknown key \(key) (known: \(known.sorted().joined(separator: ", ")))")
        }
        if let v = try string("guest.manifest") { manifest = v }
        if let v = try string("guest.kernel") { kernel = v }
        if let v = try string("guest.machine") {
            guard ["q35", "microvm"].contains(v) else { throw .invalidArgument("\(source): guest.machine \"\(v)\": expected q35 or microvm") }
            machine = v
        }
        if let v = try integer("guest.memory_mib", 64...65536) { memoryMiB = v }
        if let v = try integer("guest.vcpus", 1...64) { vcpus = v }
        if let v = try string("guest.accelerator") {
            guard ["auto", "kvm", "tcg"].contains(v) else {
                throw .invalidArgument("\(source): guest.accelerator \"\(v)\": expected auto, kvm or tcg")
            }
            accelerator = v
        }
        if let v = try integer("guest.boot_timeout_seconds", 1...3600) { bootTimeout = .seconds(v) }
        if let v = try integer("guest.call_timeout_seconds", 1...3600) { callTimeout = .seconds(v) }
        if let v = try integer("guest.shutdown_grace_seconds", 0...600) { shutdownGrace = .seconds(v) }
        if let v = try string("guest.kernel_args") {
            kernelArguments = v.split(separator: " ").map(String.init)
        }
        if let v = try string("shim.log_level") {
            guard ["info", "debug"].contains(v) else { throw .invalidArgument("\(source): shim.log_level \"\(v)\": expected info or debug") }
            debug = v == "debug"
        }
        if let v = try string("shim.qemu") { qemu = v }
        if let v = try string("shim.bridge") { bridge = v }
        if let v = try string("shim.run_root") {
            guard v.hasPrefix("/") else { throw .invalidArgument("\(source): shim.run_root must be an absolute path") }
            runRoot = v
        }
    }

    /// Reads `path` (the default path may be missing: then the defaults hold).
    public static func load(path: String?, binaryDirectory: String) throws(ShimError) -> ShimConfig {
        let file = path ?? defaultPath
        guard FileManager.default.fileExists(atPath: file) else {
            if path != nil { throw .invalidArgument("shim configuration \(file) does not exist") }
            return ShimConfig(binaryDirectory: binaryDirectory)
        }
        guard let data = FileManager.default.contents(atPath: file), data.count <= TOMLDocument.maxBytes else {
            throw .invalidArgument("cannot read the shim configuration \(file) (missing, unreadable or over 1 MiB)")
        }
        return try ShimConfig(binaryDirectory: binaryDirectory, toml: String(decoding: data, as: UTF8.self), source: file)
    }
}
