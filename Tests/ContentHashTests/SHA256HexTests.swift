// SHA-256 against the published vectors (FIPS 180-2, appendix B, and its one-million-'a' message), for
// bytes, text and files read in chunks of several sizes (so the digest does not depend on where the
// reads split the message).
import ContentHash
import Foundation
import GuestTestSupport
import Testing

struct SHA256HexTests {
    static let vectors: [(message: String, repeats: Int, digest: String)] = [
        ("abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("a", 1_000_000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
    ]

    @Test(arguments: 0..<vectors.count)
    func bytesAndTextMatchThePublishedDigest(index: Int) {
        let vector = Self.vectors[index]
        let text = String(repeating: vector.message, count: vector.repeats)
        #expect(SHA256Hex.of(text: text) == vector.digest)
        #expect(SHA256Hex.of(Array(text.utf8)) == vector.digest)
    }

    @Test(arguments: 0..<vectors.count, [7, 64, 1000, 1 << 20])
    func filesReadInChunksMatchThePublishedDigest(index: Int, chunkSize: Int) throws {
        let vector = Self.vectors[index]
        let scratch = try ScratchDirectory("gk-sha256")
        let path = scratch.file("message")
        try Data(String(repeating: vector.message, count: vector.repeats).utf8).write(to: URL(fileURLWithPath: path))
        #expect(try SHA256Hex.of(file: path, chunkSize: chunkSize) == vector.digest)
    }

    @Test func aMissingFileIsAnError() {
        #expect(throws: (any Error).self) { try SHA256Hex.of(file: "/nonexistent/guestkit-digest") }
    }
}
