import Foundation
import HostProcess

/// The result of running a command to completion.
public struct CommandResult: Sendable, CustomStringConvertible {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public let signaled: Bool

    public var succeeded: Bool { status == 0 && !signaled }
    public var description: String { "status \(status)\(signaled ? " (signal)" : "")\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// Runs host commands for tests, through HostProcess: each in its own process group, killed with it
/// when it ends or when the test process dies.
public enum Command {
    /// Runs `arguments[0]` (searched in PATH) and waits, capturing stdout and stderr. A program that cannot
    /// be found or started is status 127 with the reason on stderr, as a shell would report it.
    @discardableResult
    public static func run(_ arguments: [String], environment: [String: String]? = nil, input: Data? = nil,
                           currentDirectory: String? = nil, timeout: Duration? = nil) throws -> CommandResult {
        var command = ChildCommand(arguments.first ?? "", Array(arguments.dropFirst()))
        if let environment { command.environment.merge(environment) { $1 } }
        command.workingDirectory = currentDirectory
        command.input = input.map { .bytes([UInt8]($0)) } ?? .null
        command.output = .capture
        command.error = .capture
        let result: ChildResult
        do { result = try command.run(timeout: timeout) } catch {
            return CommandResult(status: 127, stdout: "", stderr: "\(error)\n", signaled: false)
        }
        switch result.status {
        case .exited(let code):
            return CommandResult(status: code, stdout: result.stdout, stderr: result.stderr, signaled: false)
        case .signaled(let signal, _), .stopped(let signal):
            return CommandResult(status: signal, stdout: result.stdout, stderr: result.stderr, signaled: true)
        case .continued:
            return CommandResult(status: 0, stdout: result.stdout, stderr: result.stderr, signaled: false)
        }
    }

    /// Whether a program is on PATH.
    public static func exists(_ program: String) -> Bool {
        ChildCommand(program).executablePath() != nil
    }
}

/// A temporary directory removed when the value is deinitialised.
public final class ScratchDirectory: Sendable {
    public let path: String
    public var url: URL { URL(fileURLWithPath: path) }

    public init(_ label: String = "guestkit") throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
