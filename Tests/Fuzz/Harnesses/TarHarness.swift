import Foundation
@testable import ComposeImage

/// Base layers (`--base` tar, OCI layers) read as a stream: headers, octal and base-256 numbers, pax and
/// GNU long-name records, sizes that claim more than the archive holds. Every member path must come out
/// absolute and inside the root, and no member may yield more content than the archive has.
enum TarHarness {
    static func run(_ input: FuzzInput) {
        var input = input
        let bytes = input.rest()
        var reader = TarReader(source: MemorySource(bytes: bytes), name: "fuzz.tar")
        var content = 0
        for _ in 0..<10_000 {
            let member: TarMember?
            do { member = try reader.next() } catch { return }
            guard let member else { return }
            fuzzCheck(member.path.hasPrefix("/") && !member.path.split(separator: "/").contains(".."), "member path \(member.path) leaves the root")
            if case .hardLink(let target) = member.kind {
                fuzzCheck(target.hasPrefix("/") && !target.split(separator: "/").contains(".."), "hard link \(target) leaves the root")
            }
            var read = 0
            do {
                try reader.readContent { read += $0.count }
            } catch {
                return
            }
            fuzzCheck(UInt64(read) == member.size, "\(read) bytes of content for a \(member.size)-byte member")
            content += read
            fuzzCheck(content <= bytes.count, "more content than the archive holds")
        }
    }

    static var seeds: [[UInt8]] {
        func header(_ name: String, type: UInt8, size: Int, link: String = "") -> [UInt8] {
            var block = [UInt8](repeating: 0, count: 512)
            func put(_ text: String, _ at: Int) { for (i, b) in text.utf8.enumerated() { block[at + i] = b } }
            put(name, 0)
            put(String(format: "%07o", 0o644), 100)
            put(String(format: "%07o", 0), 108)
            put(String(format: "%07o", 0), 116)
            put(String(format: "%011o", size), 124)
            put(String(format: "%011o", 0), 136)
            block[156] = type
            put(link, 157)
            put("ustar", 257)
            put("00", 263)
            for i in 148..<156 { block[i] = 32 }
            let sum = block.reduce(0) { $0 + Int($1) }
            put(String(format: "%06o", sum), 148)
            block[154] = 0
            return block
        }
        func padded(_ bytes: [UInt8]) -> [UInt8] { bytes + [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512) }
        let pax = Array("30 path=very/long/name/indeed\n".utf8)
        let archive = header("etc/", type: UInt8(ascii: "5"), size: 0)
            + header("etc/hostname", type: UInt8(ascii: "0"), size: 6) + padded(Array("guest\n".utf8))
            + header("etc/link", type: UInt8(ascii: "2"), size: 0, link: "hostname")
            + header("etc/hard", type: UInt8(ascii: "1"), size: 0, link: "etc/hostname")
            + header("PaxHeader", type: UInt8(ascii: "x"), size: pax.count) + padded(pax)
            + header("short", type: UInt8(ascii: "0"), size: 3) + padded([1, 2, 3])
            + [UInt8](repeating: 0, count: 1024)
        let truncated = header("big", type: UInt8(ascii: "0"), size: 1 << 20) + [1, 2, 3]
        let climbing = header("../../etc/shadow", type: UInt8(ascii: "0"), size: 0)
        return [archive, truncated, climbing]
    }
}
