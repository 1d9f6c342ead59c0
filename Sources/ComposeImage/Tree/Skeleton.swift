// The repository's rootfs/ skeleton: files under rootfs/ placed by rootfs/skeleton.list, a gen_init_cpio-style
// list that also carries what git cannot (empty directories, directory modes, device nodes).
import Foundation

/// The starting tree of every image, read from a skeleton directory and its `skeleton.list`.
public struct Skeleton: Sendable {
    /// One line of skeleton.list.
    public struct Entry: Sendable, Equatable {
        public let path: String
        public let kind: EntryKind
        /// For files: the location relative to the skeleton directory.
        public let source: String?
        public let permissions: UInt32
        public let uid: UInt32
        public let gid: UInt32
    }

    public let directory: String
    public let entries: [Entry]

    /// Where the skeleton is found when `--skeleton` is not given: $GUESTKIT_ROOTFS, then the source tree's rootfs/.
    public static var defaultDirectory: String {
        if let env = ProcessInfo.processInfo.environment["GUESTKIT_ROOTFS"], !env.isEmpty { return env }
        // The repository root holds Package.swift: the first such directory above this source file.
        var root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while root.path != "/", !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) {
            root.deleteLastPathComponent()
        }
        return root.appendingPathComponent("rootfs").path
    }

    /// Reads `directory/skeleton.list`.
    public init(directory: String = Skeleton.defaultDirectory) throws {
        self.directory = directory
        let listPath = directory.joinedPath("skeleton.list")
        guard let text = try? String(contentsOfFile: listPath, encoding: .utf8) else {
            throw ComposeError.unreadableInput(role: "skeleton list", path: listPath,
                                               reason: "cannot read it; pass --skeleton DIR or set GUESTKIT_ROOTFS to the repository's rootfs/")
        }
        entries = try Self.parse(text, file: listPath)
    }

    /// Parses skeleton.list text; errors name the line.
    public static func parse(_ text: String, file: String) throws -> [Entry] {
        var result: [Entry] = []
        for (lineIndex, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            func fail(_ message: String) -> ComposeError {
                .badSpec(file: file, line: lineIndex + 1, key: fields[0], message: message)
            }
            func octal(_ index: Int) throws -> UInt32 {
                guard index < fields.count, let value = UInt32(fields[index], radix: 8) else { throw fail("field \(index + 1) must be an octal mode") }
                return value
            }
            func number(_ index: Int) throws -> UInt32 {
                guard index < fields.count, let value = UInt32(fields[index]) else { throw fail("field \(index + 1) must be a number") }
                return value
            }
            guard fields.count >= 2, fields[1].hasPrefix("/") else { throw fail("expected `<type> /path …`") }
            switch fields[0] {
            case "dir":
                guard fields.count == 5 else { throw fail("expected `dir <path> <mode> <uid> <gid>`") }
                result.append(Entry(path: fields[1], kind: .directory, source: nil, permissions: try octal(2),
                                    uid: try number(3), gid: try number(4)))
            case "file":
                guard fields.count == 6 else { throw fail("expected `file <path> <location> <mode> <uid> <gid>`") }
                result.append(Entry(path: fields[1], kind: .file, source: fields[2], permissions: try octal(3),
                                    uid: try number(4), gid: try number(5)))
            case "slink":
                guard fields.count == 6 else { throw fail("expected `slink <path> <target> <mode> <uid> <gid>`") }
                result.append(Entry(path: fields[1], kind: .symlink(target: fields[2]), source: nil,
                                    permissions: try octal(3), uid: try number(4), gid: try number(5)))
            case "nod":
                guard fields.count == 8, fields[5] == "c" || fields[5] == "b" else {
                    throw fail("expected `nod <path> <mode> <uid> <gid> <c|b> <major> <minor>`")
                }
                let major = try number(6), minor = try number(7)
                let kind: EntryKind = fields[5] == "c" ? .characterDevice(major: major, minor: minor)
                    : .blockDevice(major: major, minor: minor)
                result.append(Entry(path: fields[1], kind: kind, source: nil, permissions: try octal(2),
                                    uid: try number(3), gid: try number(4)))
            case "pipe":
                guard fields.count == 5 else { throw fail("expected `pipe <path> <mode> <uid> <gid>`") }
                result.append(Entry(path: fields[1], kind: .fifo, source: nil, permissions: try octal(2),
                                    uid: try number(3), gid: try number(4)))
            default:
                throw fail("unknown entry type (dir, file, slink, nod, pipe)")
            }
        }
        return result
    }

    /// Adds every skeleton entry to `tree`.
    public func apply(to tree: RootTree) throws {
        for entry in entries {
            switch entry.kind {
            case .directory:
                try tree.addDirectory(entry.path, permissions: entry.permissions, uid: entry.uid, gid: entry.gid)
            case .file:
                let source = directory.joinedPath(entry.source ?? "")
                guard FileManager.default.isReadableFile(atPath: source) else {
                    throw ComposeError.unreadableInput(role: "skeleton file", path: source, reason: "missing or unreadable")
                }
                try tree.addFile(entry.path, copying: source, permissions: entry.permissions, uid: entry.uid, gid: entry.gid)
            case let .symlink(target):
                try tree.addSymlink(entry.path, target: target, uid: entry.uid, gid: entry.gid)
            default:
                try tree.addNode(entry.path, kind: entry.kind, permissions: entry.permissions, uid: entry.uid, gid: entry.gid)
            }
        }
    }
}
