// OCILayout: images in the OCI image layout (image-spec's layout, as `ctr images import` reads it), made
// locally from what the host has, so tests and benches need no registry.
import ContentHash
import Foundation
import HostProcess

/// A minimal OCI image: busybox-static with its applets, /etc/passwd and /etc/group, as an OCI layout tar
/// that `ctr images import` takes (one uncompressed layer). For the shim's tests and benches.
public enum BusyboxImage {
    public static let reference = "docker.io/guestkit/busybox:test"

    /// Writes the image tar into `directory` and returns its path.
    public static func build(in directory: String) throws -> String {
        let fm = FileManager.default
        let root = directory + "/rootfs"
        for sub in ["bin", "etc", "proc", "sys", "dev", "tmp", "root", "run", "var"] {
            try fm.createDirectory(atPath: root + "/" + sub, withIntermediateDirectories: true)
        }
        try fm.copyItem(atPath: "/bin/busybox", toPath: root + "/bin/busybox")
        let applets = try run(["/bin/busybox", "--list"])
        for applet in applets.stdout.split(separator: "\n") where applet != "busybox" {
            try? fm.createSymbolicLink(atPath: root + "/bin/" + applet, withDestinationPath: "busybox")
        }
        try "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
            .write(toFile: root + "/etc/passwd", atomically: true, encoding: .utf8)
        try "root:x:0:\nnogroup:x:65534:\n".write(toFile: root + "/etc/group", atomically: true, encoding: .utf8)
        try "nameserver 192.0.2.53\n".write(toFile: root + "/etc/resolv.conf", atomically: true, encoding: .utf8)

        let layout = directory + "/layout"
        let blobs = layout + "/blobs/sha256"
        try fm.createDirectory(atPath: blobs, withIntermediateDirectories: true)
        let layerTar = directory + "/layer.tar"
        try run(["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "-C", root, "-cf", layerTar, "."])
        let layerDigest = try SHA256Hex.of(file: layerTar)
        let layerSize = try fm.attributesOfItem(atPath: layerTar)[.size] as? Int ?? 0
        try fm.moveItem(atPath: layerTar, toPath: blobs + "/" + layerDigest)

        func blob(_ text: String) throws -> (digest: String, size: Int) {
            let bytes = Array(text.utf8)
            let digest = SHA256Hex.of(bytes)
            try Data(bytes).write(to: URL(fileURLWithPath: blobs + "/" + digest))
            return (digest, bytes.count)
        }
        let config = try blob("""
            {"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:\(layerDigest)"]}}
            """)
        let manifest = try blob("""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:\(config.digest)","size":\(config.size)},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:\(layerDigest)","size":\(layerSize)}]}
            """)
        try """
            {"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:\(manifest.digest)","size":\(manifest.size),"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"\(reference)","org.opencontainers.image.ref.name":"test"}}]}
            """.write(toFile: layout + "/index.json", atomically: true, encoding: .utf8)
        try #"{"imageLayoutVersion":"1.0.0"}"#.write(toFile: layout + "/oci-layout", atomically: true, encoding: .utf8)
        let image = directory + "/busybox-oci.tar"
        try run(["tar", "-C", layout, "-cf", image, "."])
        return image
    }

    @discardableResult
    static func run(_ words: [String]) throws -> ChildResult {
        var command = ChildCommand(words[0], Array(words.dropFirst()))
        command.output = .capture
        command.error = .capture
        let result = try command.run()
        guard result.succeeded else { throw BusyboxImageError(description: "\(command.commandLine): \(result)") }
        return result
    }
}

/// A step of building the image that failed, with the command's output.
public struct BusyboxImageError: Error, CustomStringConvertible {
    public let description: String
}
