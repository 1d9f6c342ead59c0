// ContentHash is where host code gets SHA-256: cache keys (ComposeKernel), image and kernel digests in
// manifests, derived filesystem UUIDs (ComposeImage). The digest itself is swift-crypto's; this module
// only turns bytes, text and files (read in chunks, never whole) into lowercase hex. Host code only:
// the guest binaries never link it.
import Crypto
import Foundation

/// SHA-256 digests as lowercase hex.
public enum SHA256Hex {
    /// The digest of bytes.
    public static func of<Bytes: DataProtocol>(_ bytes: Bytes) -> String { hex(SHA256.hash(data: bytes)) }

    /// The digest of text's UTF-8 bytes.
    public static func of(text: String) -> String { of(Array(text.utf8)) }

    /// The digest of a file's contents, read `chunkSize` bytes at a time.
    public static func of(file path: String, chunkSize: Int = 1 << 20) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: chunkSize), !chunk.isEmpty { hasher.update(data: chunk) }
        return hex(hasher.finalize())
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
