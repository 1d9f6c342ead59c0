// OCI bundles for container tests: a busybox-static rootfs with the probe (Tests/GuestContainerTests/
// Fixtures/probe.c, compiled with gcc -static once per test run) and a config.json built from a base spec
// (containerd's default, from `ctr oci spec`) with the changes a test wants.
import Foundation
import GuestSys

/// Builds bundle directories.
public enum ContainerFixtures {
    /// The probe binary, compiled once into the package's out/ directory.
    public static func probe() throws -> String {
        let out = BuiltProducts.packageRoot.appendingPathComponent("out/container-fixtures").path
        let binary = out + "/probe"
        let source = BuiltProducts.packageRoot.appendingPathComponent("Tests/GuestContainerTests/Fixtures/probe.c").path
        if let cached = compiled.get() { return cached }
        // Concurrent first calls each compile to their own name; the renames are atomic.
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let temporary = binary + ".\(getpid()).\(UUID().uuidString.prefix(8))"
        let result = try Command.run(["gcc", "-static", "-O1", "-Wall", "-o", temporary, source])
        guard result.succeeded else { throw RunningAgentError("gcc -static probe.c failed: \(result)") }
        guard rename(temporary, binary) == 0 else { throw RunningAgentError("rename \(temporary): errno \(errno)") }
        compiled.set(binary)
        return binary
    }

    private static let compiled = Locked<String?>(nil)

    /// A fresh rootfs at `path`: busybox-static with every applet linked in /bin, the probe as /bin/probe,
    /// /etc/passwd and /etc/group with root, a user 1000 and nobody.
    public static func makeRootfs(at path: String) throws {
        let busybox = "/bin/busybox"
        guard FileManager.default.isExecutableFile(atPath: busybox) else {
            throw RunningAgentError("\(busybox) is missing: install busybox-static (make deps)")
        }
        let fm = FileManager.default
        for dir in ["bin", "etc", "proc", "sys", "dev", "tmp", "root", "run", "home/user", "var"] {
            try fm.createDirectory(atPath: path + "/" + dir, withIntermediateDirectories: true)
        }
        try fm.setAttributes([.posixPermissions: 0o1777], ofItemAtPath: path + "/tmp")
        try fm.copyItem(atPath: busybox, toPath: path + "/bin/busybox")
        let applets = try Command.run([busybox, "--list"]).stdout.split(separator: "\n")
        for applet in applets where applet != "busybox" {
            try? fm.createSymbolicLink(atPath: path + "/bin/" + applet, withDestinationPath: "busybox")
        }
        try fm.copyItem(atPath: try probe(), toPath: path + "/bin/probe")
        try """
            root:x:0:0:root:/root:/bin/sh
            user:x:1000:1000:user:/home/user:/bin/sh
            nobody:x:65534:65534:nobody:/nonexistent:/bin/false

            """.write(toFile: path + "/etc/passwd", atomically: true, encoding: .utf8)
        try """
            root:x:0:
            tty:x:5:
            user:x:1000:
            audio:x:29:user
            nogroup:x:65534:

            """.write(toFile: path + "/etc/group", atomically: true, encoding: .utf8)
        _ = try Command.run(["chown", "1000:1000", path + "/home/user"])
    }

    /// containerd 1.6's default spec, as `ctr oci spec` prints it (the real binary is asked).
    public static func containerdDefaultSpec() throws -> [String: Any] {
        guard let spec = try JSONSerialization.jsonObject(with: Data(try containerdDefaultSpecText().utf8)) as? [String: Any] else {
            throw RunningAgentError("`ctr oci spec` printed something other than a JSON object")
        }
        return spec
    }

    /// `ctr oci spec`'s output.
    public static func containerdDefaultSpecText() throws -> String {
        let result = try Command.run(["ctr", "oci", "spec"])
        guard result.succeeded else { throw RunningAgentError("`ctr oci spec` failed (is containerd installed? make deps): \(result)") }
        return result.stdout
    }
}

/// A bundle directory: `config.json` plus `rootfs/`, removed with its scratch directory.
public final class OCIBundle: @unchecked Sendable {
    // Immutable after init.
    public let scratch: ScratchDirectory
    public let path: String
    public var rootfs: String { path + "/rootfs" }

    /// A bundle whose config.json is `spec` (with root.path "rootfs") and whose rootfs is fresh.
    public init(spec: [String: Any], label: String = "engine-bundle") throws {
        scratch = try ScratchDirectory(label)
        path = scratch.path
        try ContainerFixtures.makeRootfs(at: path + "/rootfs")
        try write(spec)
    }

    public func write(_ spec: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: spec, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: path + "/config.json"))
    }
}
