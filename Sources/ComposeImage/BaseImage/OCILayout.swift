// An OCI image layout as a base (image-spec: image-layout.md, image-index.md, manifest.md): index.json →
// the linux/amd64 manifest (following nested indexes) → its layers, applied in order with whiteouts.
import Foundation

extension BaseImage {
    /// image-spec descriptors, as far as a layout needs them.
    struct Descriptor: Decodable {
        let mediaType: String?
        let digest: String
        let platform: Platform?
        struct Platform: Decodable {
            let architecture: String?
            let os: String?
        }
    }
    struct Index: Decodable { let manifests: [Descriptor] }
    struct Manifest: Decodable {
        let mediaType: String?
        let layers: [Descriptor]?
        let manifests: [Descriptor]?
    }

    func blobPath(_ digest: String) throws -> String {
        let parts = digest.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, !parts[1].contains("/") else {
            throw ComposeError.badBase(path: path, reason: "bad digest \(digest)")
        }
        let blob = path.joinedPath("blobs/\(parts[0])/\(parts[1])")
        guard FileManager.default.isReadableFile(atPath: blob) else {
            throw ComposeError.badBase(path: path, reason: "blob \(digest) is missing (blobs/\(parts[0])/\(parts[1]))")
        }
        return blob
    }

    func decode<T: Decodable>(_ type: T.Type, at file: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ComposeError.badBase(path: path, reason: "cannot read \(file)")
        }
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw ComposeError.badBase(path: path, reason: "\(file) is not valid image-spec JSON: \(error)")
        }
    }

    /// Picks the linux/amd64 manifest (or the only one), following nested indexes.
    func manifest(from descriptors: [Descriptor], depth: Int = 0) throws -> Manifest {
        guard depth < 4 else { throw ComposeError.badBase(path: path, reason: "indexes nested too deeply") }
        let candidates = descriptors.filter { $0.platform == nil || ($0.platform?.os == "linux" && $0.platform?.architecture == "amd64") }
        guard let chosen = candidates.first ?? descriptors.first else {
            throw ComposeError.badBase(path: path, reason: "index.json lists no manifests")
        }
        let manifest = try decode(Manifest.self, at: try blobPath(chosen.digest))
        if let nested = manifest.manifests { return try self.manifest(from: nested, depth: depth + 1) }
        return manifest
    }

    func applyOCILayout(to tree: RootTree, scratch: String) throws -> [String] {
        let index = try decode(Index.self, at: path.joinedPath("index.json"))
        let manifest = try manifest(from: index.manifests)
        guard let layers = manifest.layers else { throw ComposeError.badBase(path: path, reason: "the manifest has no layers") }
        var warnings: [String] = []
        for layer in layers {
            warnings += try Self.apply(TarFile(path: try blobPath(layer.digest)), to: tree, whiteouts: true)
        }
        return warnings
    }
}
