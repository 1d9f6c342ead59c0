import Foundation
import GuestSys
@testable import ComposeImage

/// The initramfs writer (newc cpio) on a tree the input describes: directories, files with contents,
/// symlinks with any target, device nodes, fifos, hard links, any modes and owners, and now and then a
/// sparse file of 4 GiB or more, which newc's 32-bit size field cannot hold and must be refused with an
/// error. What is written must read back, with an independent newc parser, as exactly that tree.
enum CpioHarness {
    static let scratch: String = {
        let path = "/dev/shm/guestkit-fuzz-cpio-\(Processes.currentID)"
        try? FileSystem.makeDirectories(path)
        return path
    }()
    // Harnesses run one input at a time (see FuzzHarness.eventLoop), so one counter suffices.
    nonisolated(unsafe) static var runs = 0

    static func run(_ input: FuzzInput) {
        var input = input
        runs += 1
        let staging = scratch + "/tree-\(runs)"
        let archivePath = scratch + "/archive-\(runs).cpio"
        guard let tree = try? RootTree(staging: staging) else { return }
        defer {
            tree.discard()
            try? FileSystem.unlink(archivePath)
        }
        var hardLinks: [String: String] = [:]
        var huge = false
        let names = ["a", "b", "etc", "bin", "x y", "ünï", "deep", "."]
        for _ in 0..<Int(input.byte() % 24) {
            let depth = Int(input.byte() % 3) + 1
            let path = "/" + (0..<depth).map { _ in names[Int(input.byte()) % names.count] }.joined(separator: "/")
            let permissions = UInt32(input.u16()) & 0o7777
            let uid = input.bool() ? input.u32() : 0
            let gid = input.bool() ? input.u32() : 0
            switch input.byte() % 8 {
            case 0: try? tree.addDirectory(path, permissions: permissions, uid: uid, gid: gid)
            case 1, 2: try? tree.addFile(path, contents: Data(input.slice()), permissions: permissions, uid: uid, gid: gid)
            case 3: try? tree.addSymlink(path, target: String(decoding: input.slice(), as: UTF8.self), uid: uid, gid: gid)
            case 4: try? tree.addNode(path, kind: .characterDevice(major: input.u32(), minor: input.u32()), permissions: permissions)
            case 5: try? tree.addNode(path, kind: .fifo, permissions: permissions, uid: uid, gid: gid)
            case 6:
                if let target = tree.entries.first(where: { $0.value.kind == .file })?.key, tree.entries[path] == nil {
                    hardLinks[path] = target
                }
            default:
                guard input.byte() == 0xff else { continue }
                // A sparse file just past newc's limit.
                try? tree.addFile(path, permissions: 0o644) { fd in try fd.truncate(to: Int64(Initramfs.maximumFileSize) + 1) }
                huge = tree.entries[path]?.kind == .file
            }
        }
        // What is in the tree now (a later entry may have replaced the sparse file).
        huge = tree.entries.contains { $0.value.kind == .file && tree.fileSize($0.key) > Initramfs.maximumFileSize }
        let writer = Initramfs(compression: .none, epoch: 1_700_000_000, hardLinks: hardLinks)
        do {
            try writer.writeArchive(tree: tree, to: archivePath)
        } catch {
            // Refusing is right for a member newc cannot hold (and for a hard link the tree lost since).
            return
        }
        fuzzCheck(!huge, "a member of 4 GiB or more was written into a newc archive")
        guard let fd = try? FileDescriptor.open(archivePath, .readOnly), let bytes = try? fd.readToEnd(limit: 64 << 20) else {
            fatalError("the archive just written cannot be read")
        }
        fd.closeQuietly()
        let members = parseNewc(bytes)
        let expected = Set(tree.sortedPaths.filter { $0 != "/" }.map { String($0.dropFirst()) } + hardLinks.keys.map { String($0.dropFirst()) })
        fuzzCheck(Set(members.map(\.name)) == expected, "archive names \(members.map(\.name).sorted()) are not the tree's \(expected.sorted())")
        for member in members {
            let guestPath = "/" + member.name
            guard let entry = tree.entries[hardLinks[guestPath] ?? guestPath] else { continue }
            fuzzCheck(member.mode == entry.mode, "\(member.name): mode \(String(member.mode, radix: 8)) for \(String(entry.mode, radix: 8))")
            fuzzCheck(member.uid == entry.uid && member.gid == entry.gid, "\(member.name): owner \(member.uid):\(member.gid)")
            if case .symlink(let target) = entry.kind {
                fuzzCheck(member.data == Array(target.utf8), "\(member.name): symlink target differs")
            }
        }
    }

    /// One member as an independent reading of the newc format gives it.
    struct Member {
        let name: String
        let mode: UInt32
        let uid: UInt32
        let gid: UInt32
        let data: [UInt8]
    }

    /// newc: "070701", thirteen 8-digit hex fields, the name (NUL-terminated) padded to 4, the data padded
    /// to 4, up to "TRAILER!!!". Any deviation is a broken invariant: the writer must produce exactly this.
    static func parseNewc(_ bytes: [UInt8]) -> [Member] {
        var members: [Member] = []
        var offset = 0
        func hex(_ at: Int) -> UInt32 {
            guard at + 8 <= bytes.count, let value = UInt32(String(decoding: bytes[at..<at + 8], as: UTF8.self), radix: 16) else {
                fatalError("newc header field at \(at) is not 8 hex digits")
            }
            return value
        }
        while true {
            fuzzCheck(offset + 110 <= bytes.count && Array(bytes[offset..<offset + 6]) == Array("070701".utf8), "no newc header at \(offset)")
            let mode = hex(offset + 14), uid = hex(offset + 22), gid = hex(offset + 30)
            let size = Int(hex(offset + 54)), nameSize = Int(hex(offset + 94))
            fuzzCheck(nameSize >= 1 && offset + 110 + nameSize <= bytes.count, "bad name size at \(offset)")
            fuzzCheck(bytes[offset + 110 + nameSize - 1] == 0, "name not NUL-terminated at \(offset)")
            let name = String(decoding: bytes[(offset + 110)..<(offset + 110 + nameSize - 1)], as: UTF8.self)
            var next = offset + 110 + nameSize
            next = (next + 3) & ~3
            fuzzCheck(next + size <= bytes.count, "data past the end at \(offset)")
            let data = Array(bytes[next..<next + size])
            next = (next + size + 3) & ~3
            if name == "TRAILER!!!" { return members }
            members.append(Member(name: name, mode: mode, uid: uid, gid: gid, data: data))
            offset = next
        }
    }

    static var seeds: [[UInt8]] {
        [
            [6, 1, 0, 0xed, 0x01, 0, 0, 0, 2, 0, 0xa4, 0x01, 1, 0x10, 0, 0, 0, 0, 0, 1, 6, 104, 101, 108, 108, 111, 10,
             1, 3, 0xff, 0x01, 0, 0, 3, 4, 47, 98, 105, 110, 2, 0, 1, 0xb6, 0x01, 0, 0, 4, 5, 0, 0, 0, 1, 0, 0, 0,
             1, 1, 0xa4, 0x01, 0, 0, 6, 1, 5, 0, 0, 0, 0, 0, 5, 1, 0, 1, 0, 0, 0, 0, 0, 7, 0xff],
            [2, 2, 0, 1, 0xff, 0x0f, 1, 0xe8, 0x03, 0, 0, 1, 0xe8, 0x03, 0, 0, 1, 0, 2, 3, 4, 0, 0xa4, 0x01, 0, 0, 7, 0xff],
        ]
    }
}
