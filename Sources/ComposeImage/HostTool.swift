import Foundation

/// Runs the host programs the composer drives (mke2fs, debugfs, mkfs.erofs, depmod, gzip, zstd, sha256sum).
/// Each failure becomes a `ComposeError.toolFailed` carrying the tool's last lines of output.
public enum HostTool {
    /// Runs `tool` with `arguments`, returning its stdout; stderr is folded into the error on failure.
    @discardableResult
    public static func run(_ tool: String, _ arguments: [String], environment: [String: String] = [:],
                           stdinFile: String? = nil, stdoutFile: String? = nil) throws -> String {
        try runCapturing(tool, arguments, environment: environment, stdinFile: stdinFile, stdoutFile: stdoutFile).stdout
    }

    /// Like `run`, returning stderr as well (for tools such as debugfs that report failures there but exit 0).
    public static func runCapturing(_ tool: String, _ arguments: [String], environment: [String: String] = [:],
                                    stdinFile: String? = nil, stdoutFile: String? = nil) throws -> (stdout: String, stderr: String) {
        guard let executable = locate(tool) else {
            throw ComposeError.toolFailed(tool: tool, arguments: arguments, status: 127,
                                          output: "\(tool) not found on PATH; run `make deps` (Debian: e2fsprogs, erofs-utils, kmod, zstd)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["LC_ALL"] = "C"
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let errPipe = Pipe()
        process.standardError = errPipe
        var outPipe: Pipe?
        if let stdoutFile {
            _ = FileManager.default.createFile(atPath: stdoutFile, contents: nil)
            guard let handle = FileHandle(forWritingAtPath: stdoutFile) else {
                throw ComposeError.io(operation: "open for writing", path: stdoutFile, reason: "cannot create")
            }
            process.standardOutput = handle
        } else {
            let pipe = Pipe()
            outPipe = pipe
            process.standardOutput = pipe
        }
        if let stdinFile {
            guard let handle = FileHandle(forReadingAtPath: stdinFile) else {
                throw ComposeError.io(operation: "open for reading", path: stdinFile, reason: "cannot open")
            }
            process.standardInput = handle
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        do { try process.run() } catch {
            throw ComposeError.toolFailed(tool: tool, arguments: arguments, status: 127, output: "\(error)")
        }
        // Drain stderr on another thread so a chatty tool never blocks on a full pipe.
        let errBox = CollectedOutput()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { errBox.data = errPipe.fileHandleForReading.readDataToEndOfFile() }
        let out = outPipe?.fileHandleForReading.readDataToEndOfFile() ?? Data()
        process.waitUntilExit()
        group.wait()
        let stdout = String(decoding: out, as: UTF8.self)
        let stderr = String(decoding: errBox.data, as: UTF8.self)
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw ComposeError.toolFailed(tool: tool, arguments: arguments, status: process.terminationStatus,
                                          output: stderr + stdout)
        }
        return (stdout, stderr)
    }

    /// The absolute path of `tool` found in PATH (plus the sbin directories a non-root PATH may lack).
    public static func locate(_ tool: String) -> String? {
        if tool.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: tool) ? tool : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let dirs = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        return dirs.map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The lowercase hex SHA-256 of a file (coreutils' sha256sum: fast, and the same tool users check with).
    public static func sha256(file path: String) throws -> String {
        let out = try run("sha256sum", ["--binary", path])
        return String(out.prefix(64))
    }

    /// The lowercase hex SHA-256 of bytes.
    public static func sha256(data: Data) throws -> String {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("gk-digest-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try data.write(to: URL(fileURLWithPath: tmp))
        return try sha256(file: tmp)
    }
}

/// Holds what a reader thread collected from a pipe.
private final class CollectedOutput: @unchecked Sendable {
    // Invariant: written by the one reader block, read only after its DispatchGroup was waited for.
    var data = Data()
}
