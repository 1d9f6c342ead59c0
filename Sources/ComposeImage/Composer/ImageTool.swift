import Foundation
import HostProcess

/// Runs the host programs the composer drives (mke2fs, debugfs, mkfs.erofs, depmod, gzip, zstd, strip)
/// through HostProcess. Each failure becomes a `ComposeError.toolFailed` carrying the tool's last lines.
enum ImageTool {
    /// Runs `tool` with `arguments`, returning its stdout (or writing it to `stdoutFile`); stderr is folded
    /// into the error on failure.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String], environment: [String: String] = [:],
                    stdinFile: String? = nil, stdoutFile: String? = nil) throws -> String {
        try runCapturing(tool, arguments, environment: environment, stdinFile: stdinFile, stdoutFile: stdoutFile).stdout
    }

    /// Like `run`, returning stderr as well (for tools such as debugfs that report failures there but exit 0).
    static func runCapturing(_ tool: String, _ arguments: [String], environment: [String: String] = [:],
                             stdinFile: String? = nil, stdoutFile: String? = nil) throws -> (stdout: String, stderr: String) {
        var command = ChildCommand(tool, arguments)
        command.environment["LC_ALL"] = "C"
        command.environment.merge(environment) { $1 }
        command.input = stdinFile.map { .file($0) } ?? .null
        command.output = stdoutFile.map { .file($0, append: false) } ?? .capture
        command.error = .capture
        let result: ChildResult
        do { result = try command.run() } catch {
            if error.reason == .notFound {
                throw ComposeError.toolFailed(tool: tool, arguments: arguments, status: 127,
                                              output: "\(tool) not found on PATH; run `make deps` (Debian: e2fsprogs, erofs-utils, kmod, zstd)")
            }
            throw ComposeError.toolFailed(tool: tool, arguments: arguments, status: 127, output: "\(error)")
        }
        guard result.succeeded else {
            throw ComposeError.toolFailed(tool: tool, arguments: arguments, status: result.status.shellCode,
                                          output: result.stderr + result.stdout)
        }
        return (result.stdout, result.stderr)
    }
}
