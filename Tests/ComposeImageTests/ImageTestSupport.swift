// Helpers for the image tests: run the real compose-guest, read images back with the real tools, and check a
// library closure independently of the composer (readelf plus this file's own loader rules).
import Foundation
import GuestTestSupport
import Testing

enum ImageTest {
    static var composeGuest: String { BuiltProducts.path("compose-guest") }
    static var guestInit: String { BuiltProducts.path("guest-init") }
    static var guestAgent: String { BuiltProducts.path("guest-agent") }
    static var productsBuilt: Bool {
        [composeGuest, guestInit, guestAgent].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }
    static let epoch = "1700000000"

    /// Runs `compose-guest ARGS` with SOURCE_DATE_EPOCH set.
    @discardableResult
    static func compose(_ arguments: [String], epoch: String = epoch, environment: [String: String] = [:]) throws -> CommandResult {
        var env = environment
        env["SOURCE_DATE_EPOCH"] = epoch
        return try Command.run([composeGuest] + arguments, environment: env)
    }

    /// `compose-guest image --init guest-init --agent guest-agent ARGS`, requiring success.
    @discardableResult
    static func composeDefault(_ arguments: [String], epoch: String = epoch) throws -> CommandResult {
        let result = try compose(["image", "--init", guestInit, "--agent", guestAgent] + arguments, epoch: epoch)
        #expect(result.succeeded, "compose failed: \(result)")
        return result
    }

    /// A default guest (real init and agent) in `format`, composed once per test process and shared.
    static func sharedImage(_ format: String, _ extra: [String] = []) throws -> String {
        try SharedImages.shared.image(format: format, extra: extra)
    }

    static func sha256(_ path: String) throws -> String {
        String(try Command.run(["sha256sum", path]).stdout.prefix(64))
    }

    static func manifest(_ imagePath: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: imagePath + ".manifest.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// `debugfs -R CMD IMAGE` stdout.
    static func debugfs(_ image: String, _ command: String) throws -> String {
        try Command.run(["debugfs", "-R", command, image]).stdout
    }

    /// Mode (octal string, as debugfs prints it), uid and gid of a path in an ext4 image.
    static func ext4Stat(_ image: String, _ path: String) throws -> (type: String, mode: String, uid: Int, gid: Int)? {
        let out = try debugfs(image, "stat \"\(path)\"")
        guard let typeLine = out.split(separator: "\n").first(where: { $0.hasPrefix("Inode:") }),
              let userLine = out.split(separator: "\n").first(where: { $0.hasPrefix("User:") }) else { return nil }
        let typeWords = typeLine.split(separator: " ", omittingEmptySubsequences: true)
        let type = typeWords.firstIndex(of: "Type:").map { String(typeWords[$0 + 1]) } ?? "?"
        let mode = typeWords.firstIndex(of: "Mode:").map { String(typeWords[$0 + 1]) } ?? "?"
        let userWords = userLine.split(separator: " ", omittingEmptySubsequences: true)
        let uid = Int(userWords[1]) ?? -1
        let gid = userWords.firstIndex(of: "Group:").flatMap { Int(userWords[$0 + 1]) } ?? -1
        return (type, mode, uid, gid)
    }

    /// Extracts an image into `directory` with the format's own tool, preserving owners and modes.
    static func extract(_ image: String, format: String, into directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        switch format {
        case "ext4":
            let result = try Command.run(["debugfs", "-R", "rdump / \(directory)", image])
            #expect(result.succeeded, "\(result)")
        case "erofs":
            let result = try Command.run(["fsck.erofs", "--extract=\(directory)", "--preserve", "--overwrite", "--force", image])
            #expect(result.succeeded, "\(result)")
        default:
            let result = try Command.run(["sh", "-c", "gzip -dc '\(image)' | cpio -idm --quiet --no-absolute-filenames"],
                                         currentDirectory: directory)
            #expect(result.succeeded, "\(result)")
        }
    }

    /// The loader's default directories on Debian x86-64 (`ld.so --help`), used when a guest has no ld.so.cache.
    static let defaultLibraryDirectories = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib"]

    /// Every problem with the closure of the extracted guest at `root`: for each ELF, its interpreter must exist
    /// and each DT_NEEDED must be found in RPATH/RUNPATH ($ORIGIN = the file's guest directory) or the default
    /// directories — read with readelf, not with the composer's ELF reader.
    static func closureProblems(root: String) throws -> (checked: Int, problems: [String]) {
        var problems: [String] = []
        var checked = 0
        var interpreters: Set<String> = []
        var elves: [(String, String)] = []
        let walker = try #require(FileManager.default.enumerator(atPath: root))
        for case let relative as String in walker {
            let host = root + "/" + relative
            var info = stat()
            guard lstat(host, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            guard let handle = FileHandle(forReadingAtPath: host),
                  (try? handle.read(upToCount: 4)) == Data([0x7f, 0x45, 0x4c, 0x46]) else { continue }
            try? handle.close()
            elves.append((host, "/" + relative))
        }
        for (host, guestPath) in elves {
            let headers = try Command.run(["readelf", "-lW", host]).stdout
            if let line = headers.split(separator: "\n").first(where: { $0.contains("Requesting program interpreter:") }) {
                let interp = line.components(separatedBy: "interpreter: ").last!.trimmingCharacters(in: CharacterSet(charactersIn: "]"))
                interpreters.insert(interp)
                if !FileManager.default.fileExists(atPath: root + interp) { problems.append("\(guestPath): interpreter \(interp) missing") }
            }
        }
        for (host, guestPath) in elves {
            let dynamic = try Command.run(["readelf", "-dW", host]).stdout
            var needed: [String] = []
            var rpath: [String] = []
            var runpath: [String] = []
            for line in dynamic.split(separator: "\n") {
                guard let open = line.lastIndex(of: "["), let close = line.lastIndex(of: "]") else { continue }
                let value = String(line[line.index(after: open)..<close])
                if line.contains("(NEEDED)") { needed.append(value) }
                if line.contains("(RPATH)") { rpath = value.split(separator: ":").map(String.init) }
                if line.contains("(RUNPATH)") { runpath = value.split(separator: ":").map(String.init) }
            }
            if needed.isEmpty { continue }
            checked += 1
            let origin = (guestPath as NSString).deletingLastPathComponent
            let searched = (runpath.isEmpty ? rpath : []) + runpath
            let dirs = searched.map { $0.replacingOccurrences(of: "$ORIGIN", with: origin) } + defaultLibraryDirectories
            // The loader is already loaded under its own name: a library needing it is satisfied by the interpreter.
            let loaded = interpreters.filter { FileManager.default.fileExists(atPath: root + $0) }.map { ($0 as NSString).lastPathComponent }
            for name in needed where !loaded.contains(name) && !dirs.contains(where: { FileManager.default.fileExists(atPath: root + $0 + "/" + name) }) {
                problems.append("\(guestPath): \(name) not found in \(dirs)")
            }
        }
        return (checked, problems)
    }
}

/// Images shared by the tests of one process, composed once each (serially: the machine has 2 cores).
final class SharedImages: @unchecked Sendable {
    // Invariant: `images` is read and written only under `lock`.
    static let shared = SharedImages()
    private let lock = NSLock()
    private var images: [String: String] = [:]
    private let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gk-shared-\(getpid())").path

    init() {
        atexit { try? FileManager.default.removeItem(atPath: FileManager.default.temporaryDirectory.appendingPathComponent("gk-shared-\(getpid())").path) }
    }

    func image(format: String, extra: [String]) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        let key = ([format] + extra).joined(separator: " ")
        if let path = images[key] { return path }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/image-\(images.count).\(format)"
        try ImageTest.composeDefault(["--format", format, "-o", path] + extra)
        images[key] = path
        return path
    }
}
